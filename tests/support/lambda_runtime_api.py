"""A loopback Lambda Runtime API: what Lambda's runtime interface client (awslambdaric, the
program AWS's Python base image starts) talks to, for a test that drives the handler in a
built image as Lambda would.

    python lambda_runtime_api.py EVENTS_JSON

EVENTS_JSON is a JSON list of events. The server listens on 127.0.0.1 (a free port),
prints `{"port": N}` on one line, then answers, as the Runtime API does:

    GET  /2018-06-01/runtime/invocation/next        the next event, with the headers
         Lambda-Runtime-Aws-Request-Id, -Deadline-Ms, -Invoked-Function-Arn, -Trace-Id
    POST /2018-06-01/runtime/invocation/{id}/response   the handler's result
    POST /2018-06-01/runtime/invocation/{id}/error      the handler's error
    POST /2018-06-01/runtime/init/error                 a failed start

When every event has an answer (or the client failed to start, or 300 s passed) it prints
one JSON document, `{"answers": [{"request_id", "kind": "response"|"error", "body",
"error_type"}], "init_error": ...}`, and exits; the client's next GET then finds no server
and the client ends.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"
TIMEOUT_S = 300


def main() -> int:
    events = json.loads(sys.argv[1])
    pending = [(f"request-{i}", event) for i, event in enumerate(events)]
    answers = []
    state = {"init_error": None}
    done = threading.Event()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet: stdout carries the result
            pass

        def _body(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw) if raw else None
            except ValueError:
                return raw.decode("utf-8", "replace")

        def _reply(self, status, body=b"", headers=()):
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path != f"{PREFIX}/invocation/next":
                return self._reply(404)
            with lock:
                item = pending.pop(0) if pending else None
            if item is None:
                # Nothing more to serve: hold the client until the server goes away.
                done.wait(TIMEOUT_S)
                return self._reply(500)
            request_id, event = item
            deadline = int((time.time() + 900) * 1000)
            self._reply(200, json.dumps(event).encode(), [
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Aws-Request-Id", request_id),
                ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                ("Lambda-Runtime-Invoked-Function-Arn",
                 "arn:aws:lambda:eu-west-1:123456789012:function:kedro-sfn-test"),
                ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
            ])

        def do_POST(self):
            body = self._body()
            if self.path == f"{PREFIX}/init/error":
                state["init_error"] = body
                self._reply(202, b'{"status": "OK"}')
                done.set()
                return
            parts = self.path[len(PREFIX):].strip("/").split("/")
            if len(parts) != 3 or parts[0] != "invocation" or parts[2] not in ("response", "error"):
                return self._reply(404)
            self._reply(202, b'{"status": "OK"}')
            with lock:
                answers.append({
                    "request_id": parts[1],
                    "kind": parts[2],
                    "body": body,
                    "error_type": self.headers.get("Lambda-Runtime-Function-Error-Type"),
                })
                if len(answers) == len(events):
                    done.set()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    finished = done.wait(TIMEOUT_S)
    time.sleep(0.2)  # let the last 202 reach the client
    print(json.dumps({"answers": answers, "init_error": state["init_error"],
                      "timed_out": not finished}), flush=True)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
