"""ROS messages decoded without rclpy, whichever library made them (rclpy in the node, rosbags in bags).

- :mod:`~lingbot_depth_ros.messages.image`: Image and CompressedImage (``compressed`` / ``compressedDepth``) ->
  RGB / depth, every encoding of :mod:`~lingbot_depth_ros.messages.encoding_table` (one module per family in
  :mod:`~lingbot_depth_ros.messages.encodings`); payload codecs in :mod:`~lingbot_depth_ros.messages.compressed`.
- :mod:`~lingbot_depth_ros.messages.camera_model`: CameraInfo -> intrinsics and the output camera info.
- :mod:`~lingbot_depth_ros.messages.pointcloud_fields`: PointCloud2 fields.
- :mod:`~lingbot_depth_ros.messages.header`, :mod:`~lingbot_depth_ros.messages.poses`: stamps, poses, TF.

The encoders (numpy -> messages) are ``ros/*_codec.py`` / ``ros/camera_info.py`` for rclpy and
``bags/messages.py`` for rosbags.
"""
