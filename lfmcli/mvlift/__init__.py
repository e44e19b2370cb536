"""MVLift (Li, Liu and Wu, "Lifting Motion to the 3D World via 2D Diffusion"), for any rig: learning to lift
from 2D alone. Stage 1 (`prior`): a line-conditioned 2D motion diffusion prior."""

from . import multiview  # noqa: F401  (registers the stage-4 lifter's checkpoints with `load_checkpoint`)
