"""gRPC servicers: Controller, Admin and Conversations, thin between protobuf and the domain."""
