"""The two ceilings a single-machine broker cannot beat: loopback TCP throughput and the disk's
fsynced sequential-write throughput. Prints one line each, in MB/s (10^6 bytes).

python3 ceilings.py DIR   (DIR: a folder on the disk the broker writes to)
"""

import os
import socket
import sys
import threading
import time

CHUNK = 1 << 20


def loopback(total=8 << 30):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def sink():
        conn, _ = srv.accept()
        buf = bytearray(CHUNK)
        while conn.recv_into(buf):
            pass

    t = threading.Thread(target=sink)
    t.start()
    c = socket.create_connection(("127.0.0.1", port))
    data = b"x" * CHUNK
    start = time.perf_counter()
    for _ in range(total // CHUNK):
        c.sendall(data)
    c.close()
    t.join()
    return total / (time.perf_counter() - start) / 1e6


def fsynced_write(folder, total=1 << 30):
    """1 MiB writes, each followed by fdatasync: what acks=all with fsync per request costs."""
    path = os.path.join(folder, "ceiling.tmp")
    data = b"x" * CHUNK
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    start = time.perf_counter()
    for _ in range(total // CHUNK):
        os.write(fd, data)
        os.fdatasync(fd)
    elapsed = time.perf_counter() - start
    os.close(fd)
    os.unlink(path)
    return total / elapsed / 1e6


if __name__ == "__main__":
    print(f"loopback_tcp_mb_s {loopback():.0f}")
    print(f"fsync_seq_write_mb_s {fsynced_write(sys.argv[1]):.0f}")
