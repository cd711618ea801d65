"""rosbag2 files without rclpy (rosbags): evaluation bags, their messages and topics, dataset converters."""
