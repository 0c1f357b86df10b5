"""The Docker Engine REST API, served by palletd beside its gRPC API (`--docker-host`).

Each module maps one area of the API (system, containers, images, networks and volumes) onto
the same servicers the gRPC API uses: Docker's JSON in, protobuf requests to the servicer,
Docker's JSON out. `_http` is the HTTP/1.1 server (streams, hijacked connections), `server`
puts it together.
"""
