"""ROS message payloads decoded without rclpy: compressed transports, PointCloud2 fields."""
