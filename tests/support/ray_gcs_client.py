"""A Ray client as the stub's GCS sees one: `python3 ray_gcs_client.py HOST PORT [TOKEN_FILE]`
sends a JOIN (with "authorization: Bearer <token>" metadata when a token file is given, as Ray's
gRPC client interceptor sends it: grpc_authentication_client_interceptor.py) and prints the
GCS's one-line answer (OK or ERR ...). The token is read from the file, never printed."""
import json
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
msg = {"num_cpus": 1, "num_gpus": 0, "node_ip": "127.0.0.250"}
if len(sys.argv) > 3:
    with open(sys.argv[3], encoding="utf-8") as f:
        msg["metadata"] = {"authorization": "Bearer " + f.read().strip()}
with socket.create_connection((host, port), timeout=10) as conn:
    conn.sendall(("JOIN %s\n" % json.dumps(msg)).encode())
    print(conn.makefile("rb").readline(256).decode("utf-8", "replace").strip(), flush=True)
