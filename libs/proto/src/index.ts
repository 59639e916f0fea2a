// Everything generated from proto/, re-exported under one name.
export * from './gen/tcpstate/v1/tcp_pb.js';
export * from './gen/tcpstate/v1/agent_pb.js';
export * from './gen/tcpstate/v1/collector_pb.js';
export * as reflectionV1 from './gen/grpc/reflection/v1/reflection_pb.js';
export * as reflectionV1alpha from './gen/grpc/reflection/v1alpha/reflection_pb.js';
export * as healthV1 from './gen/grpc/health/v1/health_pb.js';
export * as wireV1 from './gen/tcpstate/wire/v1/subscribe_wire_pb.js';
