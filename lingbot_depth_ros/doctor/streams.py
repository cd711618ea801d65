"""Judging one camera's input streams from what the probe observed (no rclpy).

Per input topic: it exists with the right type, its publishers' QoS matches the node's subscription, messages
arrive (rate), on time (arrival delay = receive time - header stamp, judged as the node's own late-input warning
judges it: :class:`~lingbot_depth_ros.streams.input_timing.InputTiming`), and decode (the decoders of
``messages/``). Per camera: CameraInfo describes the image (binning / ROI, ``messages/camera_model.py``), no images
are lost (CameraInfo stamps without an image), stamps pair within the synchronizer's ``slop_s``, frame ids agree,
the sparse depth is in the units its encoding says, and (LiDAR clouds) TF reaches the camera frame.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from statistics import median

import numpy as np

from lingbot_depth_ros.deploy.dds import transport_hint
from lingbot_depth_ros.doctor.config import (
    CAMERA_INFO,
    COMPRESSED_TYPE,
    IMAGE,
    IMAGE_TYPE,
    LIDAR_POINTS,
    CameraInputs,
    InputTopic,
    NodeConfig,
)
from lingbot_depth_ros.doctor.observation import Endpoint, GraphObservation, TopicObservation
from lingbot_depth_ros.doctor.report import FAIL, OK, WARN, Check
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.messages.camera_model import camera_geometry
from lingbot_depth_ros.messages.encoding_table import COLOR_ENCODINGS, listed
from lingbot_depth_ros.messages.image import depth_m_from_message, rgb_from_message
from lingbot_depth_ros.messages.pointcloud_fields import pointcloud_xyz
from lingbot_depth_ros.streams.input_timing import CLOCK_MISMATCH_S, InputTiming

GROUP = "graph"
MIN_SAMPLES = 5  # messages needed before rates, delays, losses and offsets are judged
LOSS_SHARE = 0.2  # CameraInfo stamps without an image above this share: images are lost
PAIRED_SHARE = 0.5  # fewer sparse / camera_info messages than this within slop_s of an image: FAIL
MM_AS_METRES_M = 200.0  # a median LiDAR depth / range above this [m] is millimetres read as metres
METRES_AS_MM_M = 0.05  # a median 16UC1 depth below this [m] is metres written as millimetres
STAMP_MATCH_NS = 1_000_000  # stamps this close [ns] are the same capture


def _qos_text(endpoint: Endpoint) -> str:
    return f"{endpoint.reliability}/{endpoint.durability}"


def incompatible(publisher: Endpoint, subscription_reliability: str, subscription_durability: str) -> str | None:
    """Why a subscription with this QoS receives nothing from ``publisher`` (ROS 2 request-vs-offer rules)."""
    if subscription_reliability == "reliable" and publisher.reliability == "best_effort":
        return "best-effort publisher, reliable subscription"
    if subscription_durability == "transient_local" and publisher.durability == "volatile":
        return "volatile publisher, transient-local subscription"
    return None


class CameraJudge:
    """The checks of one camera's inputs (``inputs``) against the node's ``config`` and the ``observation``."""

    def __init__(self, config: NodeConfig, inputs: CameraInputs, observation: GraphObservation,
                 dds_hint: Callable[[], str] = transport_hint) -> None:
        self.config = config
        self.inputs = inputs
        self.observation = observation
        self.dds_hint = dds_hint

    def _id(self, kind: str, role: str = "") -> str:
        parts = ["graph", kind] + ([self.inputs.camera] if self.inputs.camera else []) + ([role] if role else [])
        return ".".join(parts)

    def _title(self, kind: str, role: str = "") -> str:
        subject = self.inputs.label(role) if role else (self.inputs.camera or "camera")
        return f"{kind} {subject}"

    def _seen(self, role: str) -> TopicObservation:
        return self.observation.topic(self.inputs.inputs[role].topic)

    # -- per topic ---------------------------------------------------------------------------------------------
    def topic_checks(self, spec: InputTopic) -> list[Check]:
        """Existence, QoS, traffic, delay and content of one input topic."""
        seen = self.observation.topic(spec.topic)
        exists = self._exists(spec, seen)
        if exists.status != OK or not seen.publishers:
            return [exists]
        checks = [exists, self._qos(spec, seen), self._traffic(spec, seen)]
        if seen.arrivals:
            checks += [self._delay(spec, seen), self._content(spec, seen)]
        return checks

    def _exists(self, spec: InputTopic, seen: TopicObservation) -> Check:
        cid, title = self._id("topic", spec.role), self._title("topic", spec.role)
        if not seen.publishers:
            candidates = sorted(t for t, types in self.observation.graph_topics.items() if spec.msg_type in types
                                and t != spec.topic)
            hint = f"; topics of that type: {', '.join(candidates[:6])}" if candidates else ""
            if not spec.required:
                return Check(cid, GROUP, title, OK, f"{spec.topic}: no publisher (optional: mode "
                             f"{self.config.values['mode']} runs without it){hint}")
            return Check(cid, GROUP, title, FAIL, f"{spec.topic}: no publisher ({spec.msg_type}){hint}",
                         f"start the driver, or remap the node's input to the driver's topic ({spec.role}:=<topic> "
                         "in ros2 launch, and --" + spec.role.replace("_", "-") + " here)")
        types = sorted({p.msg_type for p in seen.publishers})
        if spec.msg_type not in types:
            advice = "remap the node's input to a topic of the right type"
            if spec.role == IMAGE and COMPRESSED_TYPE in types:
                advice = "set image_transport:=compressed with image:=<the base topic> (without /compressed)"
            elif spec.role == IMAGE and IMAGE_TYPE in types:
                advice = "set image_transport:=raw"
            return Check(cid, GROUP, title, FAIL, f"{spec.topic} carries {', '.join(types)}; the node subscribes "
                         f"{spec.msg_type}", advice)
        names = ", ".join(sorted({p.node for p in seen.publishers}))
        return Check(cid, GROUP, title, OK, f"{spec.topic} ({spec.msg_type.rsplit('/', 1)[-1]}) from {names}")

    def _node_qos(self, seen: TopicObservation) -> tuple[str, str, str]:
        """(reliability, durability, where from) of the node's subscription on this topic."""
        if seen.node_subscriptions:
            sub = seen.node_subscriptions[0]
            return sub.reliability, sub.durability, "the node's subscription"
        reliability = "reliable" if self.config.values["input_qos"] == "reliable" else "best_effort"
        return reliability, "volatile", f"input_qos {self.config.values['input_qos']}"

    def _qos(self, spec: InputTopic, seen: TopicObservation) -> Check:
        cid, title = self._id("qos", spec.role), self._title("qos", spec.role)
        reliability, durability, source = self._node_qos(seen)
        offered = ", ".join(f"{p.node} {_qos_text(p)}" for p in seen.publishers)
        bad = [(p, why) for p in seen.publishers if (why := incompatible(p, reliability, durability))]
        summary = f"publishers {offered}; node {reliability}/{durability} ({source})"
        if not bad:
            return Check(cid, GROUP, title, OK, summary)
        advice = ("set input_qos:=sensor_data (best effort receives from every publisher), or make the publisher "
                  "reliable" if reliability == "reliable" else "publish with volatile durability")
        status = FAIL if len(bad) == len(seen.publishers) else WARN
        return Check(cid, GROUP, title, status, f"{summary}: {bad[0][1]} never match, the node receives nothing "
                     f"from {', '.join(p.node for p, _ in bad)}", advice)

    def _traffic(self, spec: InputTopic, seen: TopicObservation) -> Check:
        cid, title = self._id("rate", spec.role), self._title("rate", spec.role)
        if not seen.arrivals:
            return Check(cid, GROUP, title, FAIL if spec.required else WARN,
                         f"{len(seen.publishers)} publisher(s) but no message in {seen.listened_s:.1f} s",
                         "the publisher sends nothing, or its messages are lost in transport (large best-effort "
                         f"messages between processes on different DDS settings). {self.dds_hint()}")
        rate = seen.rate_hz
        layouts = sorted({a.layout for a in seen.arrivals})
        frames = sorted({a.frame_id or "''" for a in seen.arrivals})
        rate_text = f"{rate:.1f} Hz" if rate is not None else "1 message"
        return Check(cid, GROUP, title, OK, f"{rate_text} ({seen.received} messages in {seen.listened_s:.1f} s), "
                     f"{', '.join(layouts[:3])}, frame {', '.join(frames[:3])}")

    def _delay(self, spec: InputTopic, seen: TopicObservation) -> Check:
        cid, title = self._id("delay", spec.role), self._title("delay", spec.role)
        threshold = float(self.config.values["diagnostics.input_delay_warn_s"])
        delays = [(a.receive_ns - a.stamp_ns) / 1e9 for a in seen.arrivals]
        text = f"receive - stamp median {median(delays) * 1e3:.0f} ms, max {max(delays) * 1e3:.0f} ms"
        if abs(median(delays)) > CLOCK_MISMATCH_S:
            return Check(cid, GROUP, title, WARN, f"stamps {median(delays):.0f} s off this machine's clock: another "
                         "clock (a bag replayed without use_sim_time, a driver on another machine without time sync)",
                         "play bags with --clock and use_sim_time:=true; sync robot clocks (chrony)")
        timing = InputTiming(self.dds_hint())
        for arrival in seen.arrivals:
            timing.observe(spec.role, arrival.receive_ns, arrival.stamp_ns)
        late = timing.late_text(spec.role, threshold) if threshold > 0 else None
        if late is not None:
            return Check(cid, GROUP, title, FAIL, f"{late} (threshold diagnostics.input_delay_warn_s {threshold:g} s); "
                         "likely cause: large messages held up by DDS (a publisher not on this node's DDS profile "
                         "falls back to UDP fragments) or a publisher clock off", self.dds_hint())
        if threshold > 0 and median(delays) < -threshold:
            return Check(cid, GROUP, title, WARN, text + ": stamps in the future, the publisher's clock is ahead",
                         "sync the clocks of the machines (chrony)")
        return Check(cid, GROUP, title, OK, text)

    def _content(self, spec: InputTopic, seen: TopicObservation) -> Check:
        cid, title = self._id("content", spec.role), self._title("content", spec.role)
        message = seen.last
        try:
            if spec.role == IMAGE:
                rgb = rgb_from_message(message)
                return Check(cid, GROUP, title, OK, f"decodes to {rgb.shape[1]}x{rgb.shape[0]} RGB")
            if spec.role == CAMERA_INFO:
                return Check(cid, GROUP, title, OK, f"{message.distortion_model or 'no distortion model'}, K fx "
                             f"{float(message.k[0]):.1f} fy {float(message.k[4]):.1f}")
            if spec.role == LIDAR_POINTS:
                return Check(cid, GROUP, title, OK, f"{len(pointcloud_xyz(message))} finite x, y, z points")
            depth = depth_m_from_message(message)
            return Check(cid, GROUP, title, OK, f"decodes to {depth.shape[1]}x{depth.shape[0]} depth, "
                         f"{int(np.isfinite(depth).sum())} valid pixels")
        except (InputError, ValueError) as exc:
            known = listed(COLOR_ENCODINGS) if spec.role == IMAGE else "16UC1 [mm], 32FC1 [m] (REP 118)"
            return Check(cid, GROUP, title, FAIL, f"the node drops every frame: {exc}",
                         f"publish a supported encoding ({known}), or convert it (image_proc)")

    # -- per camera --------------------------------------------------------------------------------------------
    def camera_checks(self) -> list[Check]:
        """The checks between this camera's streams (when the streams needed have arrived)."""
        image, info, sparse = self._seen(IMAGE), self._seen(CAMERA_INFO), self._seen(self.inputs.sparse.role)
        checks: list[Check] = []
        if image.arrivals and info.arrivals:
            checks.append(self._geometry(image, info))
            loss = self._image_loss(image, info)
            if loss is not None:
                checks.append(loss)
        if image.arrivals and (info.arrivals or sparse.arrivals):
            checks.append(self._sync(image, info, sparse))
            checks.append(self._frames(image, info, sparse))
        if sparse.arrivals:
            checks.append(self._units(image, sparse))
        if self.inputs.sparse.role == LIDAR_POINTS and sparse.arrivals and image.arrivals:
            checks.append(self._tf(image, sparse))
        return checks

    def image_size(self) -> tuple[int, int] | None:
        """The (width, height) [px] of the last image seen (compressed ones decoded), None without one."""
        image = self._seen(IMAGE)
        if not image.arrivals:
            return None
        if image.arrivals[-1].size is not None:
            return image.arrivals[-1].size
        try:
            rgb = rgb_from_message(image.last)
        except (InputError, ValueError):
            return None
        return int(rgb.shape[1]), int(rgb.shape[0])

    def _geometry(self, image: TopicObservation, info: TopicObservation) -> Check:
        cid, title = self._id("camera_info"), self._title("camera_info")
        size = self.image_size()
        if size is None:
            return Check(cid, GROUP, title, WARN, "image not decodable: CameraInfo not compared (see content)",
                         "fix the image encoding first (see content)")
        rectified = bool(self.config.values["camera.rectified"])
        try:
            geometry = camera_geometry(info.last, size[0], size[1], rectified)
        except InputError as exc:
            return Check(cid, GROUP, title, FAIL, f"the node drops every frame: {exc}",
                         "CameraInfo must describe the image published: a binned / cropped image needs binning_x/y "
                         "and roi set, a resized one its own CameraInfo (image_proc resize)")
        k = geometry.intrinsics
        window = "" if geometry.window.is_identity else " (binning / ROI applied)"
        return Check(cid, GROUP, title, OK, f"describes the {size[0]}x{size[1]} image{window}: {geometry.matrix}, fx "
                     f"{k.fx:.1f} fy {k.fy:.1f} cx {k.cx:.1f} cy {k.cy:.1f}")

    def _image_loss(self, image: TopicObservation, info: TopicObservation) -> Check | None:
        """CameraInfo (small) gets through where images (large) are lost: the tell of a transport problem."""
        if len(info.arrivals) < MIN_SAMPLES:
            return None
        cid, title = self._id("image_loss"), self._title("image_loss")
        image_stamps = sorted(a.stamp_ns for a in image.arrivals)
        first, last = image_stamps[0], image_stamps[-1]
        infos = [a.stamp_ns for a in info.arrivals if first - STAMP_MATCH_NS <= a.stamp_ns <= last + STAMP_MATCH_NS]
        if len(infos) < MIN_SAMPLES:
            return None
        matched = sum(_nearest(image_stamps, s) <= STAMP_MATCH_NS for s in infos)
        image_rate, info_rate = image.rate_hz or 0.0, info.rate_hz or 0.0
        summary = (f"{matched} of {len(infos)} camera_info stamps have their image; camera_info {info_rate:.1f} Hz, "
                   f"image {image_rate:.1f} Hz")
        if matched == 0:
            return Check(cid, GROUP, title, OK, "camera_info and image stamps differ (not paired by stamp: not judged)")
        if len(infos) - matched > LOSS_SHARE * len(infos):
            return Check(cid, GROUP, title, WARN, summary + ": images are lost in transport (CameraInfo, small, gets "
                         "through)", self.dds_hint())
        return Check(cid, GROUP, title, OK, summary)

    def _sync(self, image: TopicObservation, info: TopicObservation, sparse: TopicObservation) -> Check:
        cid, title = self._id("sync"), self._title("sync")
        slop_s = float(self.config.values["slop_s"])
        image_stamps = sorted(a.stamp_ns for a in image.arrivals)
        parts, worst = [], None
        for role, seen in ((CAMERA_INFO, info), (self.inputs.sparse.role, sparse)):
            if not seen.arrivals:
                continue
            offsets = [(s.stamp_ns - _nearest_stamp(image_stamps, s.stamp_ns)) / 1e9 for s in seen.arrivals]
            paired = sum(abs(o) <= slop_s for o in offsets)
            typical = median(offsets)
            parts.append(f"{role} {typical * 1e3:+.0f} ms ({paired} of {len(offsets)} within slop)")
            # unpaired stamps around a typical offset within slop_s are lost images (see image_loss), not an offset
            if paired < PAIRED_SHARE * len(offsets) and abs(typical) > slop_s and \
                    (worst is None or abs(typical) > abs(worst[1])):
                worst = (role, typical)
        summary = f"offsets to the nearest image stamp: {'; '.join(parts)}; slop_s {slop_s:g} s"
        if worst is None:
            return Check(cid, GROUP, title, OK, summary)
        role, offset = worst
        relation = "lead" if offset > 0 else "lag"
        needed = min(1.0, abs(offset) * 1.5)
        advice = (f"stamp {role} with the image's capture stamp (registered depth shares the image's stamp)"
                  + (f", or raise slop_s to {needed:.2f}" if abs(offset) < 1.0 else ""))
        return Check(cid, GROUP, title, FAIL, f"{role} stamps {relation} the image by {abs(offset):.2f} s > slop_s "
                     f"{slop_s:g} s: no synchronized set; {summary}", advice)

    def _frames(self, image: TopicObservation, info: TopicObservation, sparse: TopicObservation) -> Check:
        cid, title = self._id("frames"), self._title("frames")
        image_frame = image.arrivals[-1].frame_id
        others = {CAMERA_INFO: info} if self.inputs.sparse.role == LIDAR_POINTS else \
            {CAMERA_INFO: info, self.inputs.sparse.role: sparse}
        found = {role: seen.arrivals[-1].frame_id for role, seen in others.items() if seen.arrivals}
        summary = f"image '{image_frame}'" + "".join(f", {role} '{frame}'" for role, frame in found.items())
        if not image_frame:
            return Check(cid, GROUP, title, WARN, summary + ": the image has no frame_id (outputs, TF and obstacles "
                         "need the camera's optical frame)", "set the camera driver's frame_id")
        differ = [role for role, frame in found.items() if frame != image_frame]
        if differ:
            return Check(cid, GROUP, title, WARN, summary + f": {', '.join(differ)} in another frame than the image "
                         "(sparse depth must be registered to the colour camera)",
                         "register the depth to the colour camera (depth_image_proc register) or use the LiDAR cloud "
                         "(sparse_input:=pointcloud) with TF")
        return Check(cid, GROUP, title, OK, summary)

    def _units(self, image: TopicObservation, sparse: TopicObservation) -> Check:
        cid, title = self._id("units"), self._title("units")
        message = sparse.last
        try:
            if self.inputs.sparse.role == LIDAR_POINTS:
                xyz = pointcloud_xyz(message)
                values = np.linalg.norm(xyz, axis=1) if len(xyz) else np.zeros(0)
                what, encoding = "range", "PointCloud2"
            else:
                depth = depth_m_from_message(message)
                values = depth[np.isfinite(depth)]
                encoding = getattr(message, "encoding", None) or str(getattr(message, "format", ""))
                what = "depth"
        except (InputError, ValueError):
            return Check(cid, GROUP, title, WARN, "sparse input not decodable (see content): units not checked",
                         "fix the sparse input's encoding first (see content)")
        values = values[values > 0]
        if not values.size:
            return Check(cid, GROUP, title, WARN, f"the last sparse message has no valid {what}",
                         "check the LiDAR driver (and the depth projection)")
        typical = float(np.median(values))
        summary = f"median {what} {typical:.2f} m as read from {encoding}"
        if typical > MM_AS_METRES_M:
            fix = ("publish x, y, z in metres (REP 103)" if encoding == "PointCloud2" else
                   "publish 32FC1 in metres, or 16UC1 in millimetres (REP 118)")
            return Check(cid, GROUP, title, FAIL, summary + ": millimetres read as metres", fix)
        if typical < METRES_AS_MM_M and "16" in encoding:
            return Check(cid, GROUP, title, FAIL, summary + ": metres written into a millimetre encoding",
                         "publish 16UC1 in millimetres, or 32FC1 in metres (REP 118)")
        size = self.image_size()
        shape = getattr(message, "width", None), getattr(message, "height", None)
        if self.inputs.sparse.role != LIDAR_POINTS and size is not None and None not in shape and shape != size:
            return Check(cid, GROUP, title, FAIL, summary + f"; sparse depth is {shape[0]}x{shape[1]}, the image "
                         f"{size[0]}x{size[1]}: every set is dropped", "publish the sparse depth registered to the "
                         "colour image, at its size")
        return Check(cid, GROUP, title, OK, summary)

    def _tf(self, image: TopicObservation, sparse: TopicObservation) -> Check:
        cid, title = self._id("tf"), self._title("tf")
        camera, lidar = image.arrivals[-1].frame_id, sparse.arrivals[-1].frame_id
        if not bool(self.config.values.get("lidar.use_tf", True)):
            return Check(cid, GROUP, title, OK, "lidar.use_tf false: the node places the cloud with the lidar.* "
                         "mounting parameters")
        if self.observation.tf is None:
            return Check(cid, GROUP, title, OK, "tf2_ros not installed here: not checked (a node without tf2_ros uses "
                         "the lidar.* mounting parameters)")
        error = self.observation.tf.get((camera, lidar))
        if error is None:
            return Check(cid, GROUP, title, WARN, f"'{camera}' <- '{lidar}' not looked up",
                         "run the doctor again (the frames changed while it listened)")
        if error:
            return Check(cid, GROUP, title, FAIL, f"no transform '{camera}' <- '{lidar}' ({error}): the node skips "
                         "every cloud", f"publish the LiDAR mounting (ros2 run tf2_ros static_transform_publisher ... "
                         f"--frame-id {camera} --child-frame-id {lidar}), or lidar.use_tf:=false with lidar.*")
        return Check(cid, GROUP, title, OK, f"'{camera}' <- '{lidar}' available")


def _nearest_stamp(sorted_stamps: Sequence[int], stamp: int) -> int:
    """The stamp of ``sorted_stamps`` nearest to ``stamp``."""
    i = bisect.bisect_left(sorted_stamps, stamp)
    candidates = sorted_stamps[max(i - 1, 0):i + 1]
    return min(candidates, key=lambda s: abs(s - stamp))


def _nearest(sorted_stamps: Sequence[int], stamp: int) -> int:
    """|stamp - the nearest of ``sorted_stamps``| [ns]."""
    return abs(stamp - _nearest_stamp(sorted_stamps, stamp))


def camera_checks(config: NodeConfig, inputs: CameraInputs, observation: GraphObservation,
                  dds_hint: Callable[[], str] = transport_hint) -> list[Check]:
    """Every input check of one camera, topic by topic, then between its streams."""
    judge = CameraJudge(config, inputs, observation, dds_hint)
    checks: list[Check] = []
    for spec in inputs.inputs.values():
        checks += judge.topic_checks(spec)
    return checks + judge.camera_checks()
