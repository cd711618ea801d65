"""Offline batch processing of recordings on Ray (``lingbot-depth batch``). No rclpy.

Inputs (rosbag2 folders, KITTI/NYU dataset folders, image folders) are split into *units* (an input
and a frame range); Ray actors that each hold one estimator run the node's :class:`DepthPipeline` on
every frame of a unit and write depth files atomically; the driver records finished units in a
manifest (resume), retries the units of dead workers, and writes an aggregated report.

``ray`` is an optional extra (``pip install .[batch]``): only :mod:`~lingbot_depth_ros.batch.runner`
imports it.
"""
