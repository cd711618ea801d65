"""Multi-frame TSDF fusion (no rclpy): poses (:mod:`.poses`), the Open3D VoxelBlockGrid volume
(:mod:`.tsdf`, needs the ``fusion`` extra), scoring against the procedural scene (:mod:`.ground_truth`)
and offline fusion of bags / folders (:mod:`.offline`)."""
