"""Exports of trained networks to other toolchains (:mod:`lava_diffpc.export.netx`: lava-dl
netx HDF5). Kept outside :mod:`lava_diffpc.proc`, whose sibling modules Lava's process-model
discovery executes."""
