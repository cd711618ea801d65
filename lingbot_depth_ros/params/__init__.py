"""Parameter tables without ROS: the node's, navigation, surfaces, fusion; their YAML/README/--help renderings."""
