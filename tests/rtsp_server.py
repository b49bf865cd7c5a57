"""A local RTSP camera: GStreamer's RTSP server (Debian's gir1.2-gst-rtsp-server-1.0) serving
a folder of JPEG frames in a loop, as RTP/JPEG, at a fixed frame rate (the frames are sent
as they are: no encoder needed, only gstreamer1.0-plugins-good's rtpjpegpay).

Run with Debian's own Python, which has the GObject bindings (python3-gi), not the venv's:
    /usr/bin/python3 tests/rtsp_server.py --port 8554 --folder FRAMES --fps 10 \
        --width 810 --height 1080
It prints `serving rtsp://127.0.0.1:PORT/cam` once listening and runs until killed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

MOUNT = "/cam"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", required=True, help="frames named frame_0000.jpg, ...")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--width", type=int, required=True, help="the frames' size, px")
    parser.add_argument("--height", type=int, required=True)
    args = parser.parse_args()
    Gst.init(None)
    frames = [p.read_bytes() for p in sorted(Path(args.folder).glob("frame_*.jpg"))]
    if not frames:
        sys.exit(f"no frame_*.jpg in {args.folder}")
    period = Gst.SECOND // args.fps
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    # appsrc with timestamps: the server's sinks then send one frame per period.
    factory.set_launch(
        "( appsrc name=frames format=time "
        f'caps="image/jpeg,framerate={args.fps}/1,width={args.width},height={args.height}" '
        "! rtpjpegpay name=pay0 pt=26 )"
    )

    def configure(_factory: object, media: GstRtspServer.RTSPMedia) -> None:
        count = 0

        def need_data(source: Gst.Element, _length: int) -> None:
            nonlocal count
            buffer = Gst.Buffer.new_wrapped(frames[count % len(frames)])
            buffer.pts, buffer.duration = count * period, period
            count += 1
            source.emit("push-buffer", buffer)

        media.get_element().get_child_by_name("frames").connect("need-data", need_data)

    factory.connect("media-configure", configure)
    factory.set_shared(True)  # one pipeline for every client, as a camera has
    server.get_mount_points().add_factory(MOUNT, factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{args.port}")
    print(f"serving rtsp://127.0.0.1:{args.port}{MOUNT}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
