"""Milliseconds from spawning `connectd --config FILE` until it answers a Kafka Metadata request
(ApiVersions v0 then Metadata v1), then stops it cleanly. python3 ready.py CONNECTD FILE PORT"""

import signal
import socket
import struct
import subprocess
import sys
import time

connectd, config, port = sys.argv[1], sys.argv[2], int(sys.argv[3])


def request(sock, api_key, version, body=b""):
    client = b"ready"
    header = struct.pack(">hhih", api_key, version, 1, len(client)) + client
    frame = header + body
    sock.sendall(struct.pack(">i", len(frame)) + frame)
    size = struct.unpack(">i", sock.recv(4, socket.MSG_WAITALL))[0]
    return sock.recv(size, socket.MSG_WAITALL)


start = time.perf_counter()
proc = subprocess.Popen([connectd, "--config", config], stderr=subprocess.DEVNULL)
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        request(s, 18, 0)
        request(s, 3, 1, struct.pack(">i", -1))  # all topics
        break
    except OSError:
        time.sleep(0.001)
elapsed = (time.perf_counter() - start) * 1000
proc.send_signal(signal.SIGTERM)
proc.wait()
print(f"{elapsed:.1f}")
