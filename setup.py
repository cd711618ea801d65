"""ament_python setup for lingbot_depth_ros (works with colcon and with plain pip)."""

from glob import glob

from setuptools import find_packages, setup

package_name = "lingbot_depth_ros"

setup(
    name=package_name,
    version="0.3.0",
    packages=find_packages(exclude=["test", "test.*", "bench", "bench.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml") + glob("config/*.xml")),
        ("share/" + package_name + "/rviz", glob("rviz/*.rviz")),
    ],
    install_requires=["setuptools", "numpy", "opencv-python-headless", "pyyaml", "tqdm", "jsonschema"],
    extras_require={
        "model": ["torch", "safetensors", "huggingface_hub"],
        "bags": ["rosbags"],
        "server": ["fastapi", "fastapi-offline", "starlette", "uvicorn", "pydantic", "pillow", "gradio",
                   "gradio_client", "httpx"],
        "server-test": ["schemathesis", "hypothesis", "websockets"],
        "estimators": ["torch", "transformers", "diffusers", "accelerate"],
        "engine": ["torch", "onnx", "onnxscript", "onnxruntime"],
        "fusion": ["open3d-cpu"],
        "batch": ["ray", "pyarrow"],  # lingbot-depth batch; pyarrow: Ray Data (--read data)
        "fleet": ["ray", "pyarrow"],  # former name of "batch", kept for release 0.3 only
    },
    zip_safe=True,
    maintainer="lingbot_depth_ros maintainers",
    maintainer_email="maintainers@lingbot-depth-ros.dev",
    description="Dense metric depth (LingBot-Depth or classical completion) for ROS 2 cameras and LiDARs.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "depth_node = lingbot_depth_ros.ros.depth_node:main",
            "depth_fusion_node = lingbot_depth_ros.ros.fusion_node:main",
            "lingbot-depth-demo = lingbot_depth_ros.cli.tools:demo_main",
            "lingbot-depth = lingbot_depth_ros.cli.main:main",
            "lingbot-depth-export = lingbot_depth_ros.cli.tools:export_main",
            "lingbot-depth-bag = lingbot_depth_ros.cli.tools:bag_main",
            "lingbot-depth-eval = lingbot_depth_ros.cli.tools:eval_main",
        ],
    },
)
