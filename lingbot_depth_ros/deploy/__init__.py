"""Running the nodes on a robot without ROS imports: DDS profiles, launch arguments, RViz config, node processes."""
