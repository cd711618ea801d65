"""The thin ROS layer: message <-> numpy conversion, parameters, QoS. No estimator logic here."""
