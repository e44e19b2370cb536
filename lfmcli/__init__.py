"""lfm: lift 2D keypoints of any object into 3D."""

__version__ = "0.1.0"
