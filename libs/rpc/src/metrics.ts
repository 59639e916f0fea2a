import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';

/** Name of the per-RPC counter, labelled {service, method, code}. */
export const RPC_REQUESTS_TOTAL = 'tcpstate_rpc_requests_total';

/**
 * A Prometheus registry with the process's default metrics and the per-RPC
 * counter. Apps register their own metrics on it (`registers: [registry]`).
 */
export function createMetricsRegistry(): { registry: Registry; interceptor: Interceptor } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: RPC_REQUESTS_TOTAL,
    help: 'RPCs handled, by service, method and final gRPC status code.',
    labelNames: ['service', 'method', 'code'] as const,
    registers: [registry],
  });
  const count = (service: string, method: string, code: Code | 'OK') =>
    requests.inc({ service, method, code: code === 'OK' ? 'OK' : grpcCodeName(code) });
  return { registry, interceptor: countingInterceptor(count) };
}

// Counts each call once, when its outcome is known: unary calls when the
// handler returns or throws, streams when the response stream ends.
function countingInterceptor(count: (service: string, method: string, code: Code | 'OK') => void): Interceptor {
  return (next) => async (req) => {
    const service = req.service.typeName;
    const method = req.method.name;
    try {
      const res = await next(req);
      if (!res.stream) {
        count(service, method, 'OK');
        return res;
      }
      return { ...res, message: countedStream(res.message, (code) => count(service, method, code)) };
    } catch (error) {
      count(service, method, ConnectError.from(error).code);
      throw error;
    }
  };
}

async function* countedStream<T>(source: AsyncIterable<T>, done: (code: Code | 'OK') => void): AsyncGenerator<T> {
  // Stays "canceled" if the consumer stops early (the client went away).
  let code: Code | 'OK' = Code.Canceled;
  try {
    yield* source;
    code = 'OK';
  } catch (error) {
    code = ConnectError.from(error).code;
    throw error;
  } finally {
    done(code);
  }
}

/** The gRPC spelling of a status code: NOT_FOUND, CANCELLED, ... (Connect's enum says "Canceled"). */
export function grpcCodeName(code: Code): string {
  if (code === Code.Canceled) return 'CANCELLED';
  return Code[code].replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
}
