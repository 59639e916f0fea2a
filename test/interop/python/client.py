"""A tcpstate client in Python, generated from proto/ with Debian's protoc and
grpc_python_plugin: proof that clients in other languages work.

Usage: client.py GEN_DIR ADDRESS status
       client.py GEN_DIR ADDRESS subscribe REQUEST_JSON MAX_EVENTS
Prints each answer as one line of JSON (proto3 JSON mapping) on stdout.
subscribe stops (disconnects) after MAX_EVENTS events, or when the stream ends.
"""
import json
import sys

gen_dir, address, command = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, gen_dir)

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from tcpstate.v1 import agent_pb2, agent_pb2_grpc  # noqa: E402

channel = grpc.insecure_channel(address)
agent = agent_pb2_grpc.AgentServiceStub(channel)

if command == "status":
    reply = agent.GetStatus(agent_pb2.GetStatusRequest(), timeout=10)
    print(json_format.MessageToJson(reply, indent=None))
elif command == "subscribe":
    request = json_format.Parse(sys.argv[4], agent_pb2.SubscribeRequest())
    limit = int(sys.argv[5])
    events = 0
    call = agent.Subscribe(request, timeout=60)
    for reply in call:
        print(json_format.MessageToJson(reply, indent=None), flush=True)
        if reply.WhichOneof("response") == "event":
            events += 1
            if events >= limit:
                call.cancel()
                break
else:
    print(json.dumps({"error": f"unknown command {command}"}))
    sys.exit(2)
