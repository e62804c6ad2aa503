"""A prefetch hint for numba kernels (LLVM's ``llvm.prefetch`` intrinsic)."""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, arr, i):
    """Asks the CPU to bring ``arr[i]`` into its caches (LLVM's prefetch intrinsic); a hint
    that never faults, so i may be out of bounds. The search reads each token's arc
    offsets and arcs at random places of a graph far larger than the caches: asking for
    the offsets when the token is made, and for its arcs when the frame's cutoff is set,
    overlaps those misses with other work (about 10% of the 1-best search's time on the
    20k-word benchmark graphs)."""
    if not isinstance(arr, types.Array) or not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        idx = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = builder.bitcast(builder.gep(ary.data, [idx]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]), "llvm.prefetch.p0i8")
        # read, keep in all cache levels, data cache
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(arr, i), codegen
