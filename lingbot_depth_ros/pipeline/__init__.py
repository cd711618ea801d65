"""Per-frame processing without ROS: the depth pipeline shared by node, batch, CLI and HTTP API."""
