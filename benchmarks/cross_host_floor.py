"""The floor under any allreduce across two hosts: each host must receive the other host's
whole vector's worth of bytes (B) and send as much, so no algorithm finishes before B has
crossed each way. Measures that with plain TCP sockets between two emulated hosts: K stream
pairs (one per rank of a host, as the two-level schedule uses them), each moving B/K each way
at once, with persistent sender and receiver threads (the kernel does the work; Python only
waits in sendall/recv_into). Prints `bytes,median_us` per size. Run one side per host:

    python3 cross_host_floor.py listen PEER K SIZES ROUNDS    # on host A
    python3 cross_host_floor.py connect PEER K SIZES ROUNDS   # on host B (PEER: A's address)
"""
import socket
import statistics
import sys
import threading
import time

PORT = 5557


def main():
    role, peer, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sizes = [int(x) for x in sys.argv[4].split(",")]
    rounds = int(sys.argv[5])
    if role == "listen":
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", PORT))
        server.listen(k)
        connections = [server.accept()[0] for _ in range(k)]
    else:
        deadline = time.time() + 10
        connections = []
        while len(connections) < k:
            try:
                connections.append(socket.create_connection((peer, PORT)))
            except ConnectionRefusedError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
    for c in connections:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    total = rounds + 2  # two warm-up rounds
    for size in sizes:
        n = size // k
        start, done = threading.Barrier(2 * k + 1), threading.Barrier(2 * k + 1)

        def send(c):
            data = bytes(n)
            for _ in range(total):
                start.wait()
                c.sendall(data)
                done.wait()

        def receive(c):
            view = memoryview(bytearray(n))
            for _ in range(total):
                start.wait()
                got = 0
                while got < n:
                    got += c.recv_into(view[got:])
                done.wait()

        threads = [threading.Thread(target=f, args=(c,)) for c in connections for f in (send, receive)]
        for t in threads:
            t.start()
        times = []
        for _ in range(total):
            t0 = time.perf_counter()
            start.wait()
            done.wait()
            times.append(time.perf_counter() - t0)
        for t in threads:
            t.join()
        if role == "listen":
            print(f"{size},{statistics.median(times[2:]) * 1e6:.0f}", flush=True)


if __name__ == "__main__":
    main()
