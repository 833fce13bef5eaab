"""lava-diffpc: Difference Predictive Coding spiking networks on Lava, targeting Loihi 2.

The float reference (:mod:`lava_diffpc.reference`), the rules (:mod:`lava_diffpc.rules`),
data loaders and the trainer import no Lava module; the Lava processes live in
:mod:`lava_diffpc.proc` and need Python 3.10 with lava-nc 0.10.
"""

__version__ = "0.1.0"
