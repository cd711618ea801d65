"""``lingbot-depth doctor``: why there is no depth, in one command (no rclpy here).

Each module judges one part of a robot setup and returns :class:`~lingbot_depth_ros.doctor.report.Check`
records (OK / WARN / FAIL + one line of advice): :mod:`.install` (ROS, RMW, Fast DDS profile, /dev/shm,
optional extras), :mod:`.gpu` (torch CUDA, ONNX Runtime, TensorRT, precision), :mod:`.model` (checkpoint,
engine folder, Hugging Face cache), :mod:`.graph` and :mod:`.streams` (the live graph, from what
``ros/graph_probe.py`` observed). :mod:`.config` is the node's configuration the checks judge against;
:mod:`.runner` runs the groups.
"""
