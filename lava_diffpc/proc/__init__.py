"""Lava processes of DiffPC (Lava's layout: ``<name>/process.py`` + ``<name>/models.py``).

* :mod:`.layer` - ``DiffPCLayer``: value and error neurons of one layer l >= 1 (the output
  layer also clamps the label and records its predictions);
* :mod:`.synapse` - ``DiffPCSynapse``: one weight matrix serving ``W`` up and ``W^T`` down;
* :mod:`.conv_synapse` - ``DiffPCConvSynapse``: one convolution kernel serving ``conv`` up
  and ``conv_transpose`` down (layers stay flat ``DiffPCLayer`` s, CHW order);
* :mod:`.io` - ``DiffPCInput``: clamps one sample after another and emits activity spikes.

Every process has a ``floating_pt`` and a ``fixed_pt`` model, takes real units with its
arithmetic declared at construction (``fixed=None`` or a ``FixedFormat``), and derives from
:mod:`.common` (checks, refusal of the other arithmetic's model, guarded model steps).
Nothing below this package may have import side effects: Lava's model discovery executes
every module beside a process.
"""

from lava_diffpc._lava import require_lava

require_lava()
