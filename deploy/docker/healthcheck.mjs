// The image's HEALTHCHECK, for both roles of the one image: the API answers GET /healthz on PORT,
// a worker on WORKER_METRICS_PORT (200 while its Redis connection is ready). Healthy when either
// answers 200 within 3 s. Plain JavaScript, no imports: it runs as its own short process.
const ports = [process.env.PORT || '8080', process.env.WORKER_METRICS_PORT].filter(Boolean);
const healthy = async (port) => {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(3000) });
    return res.status === 200;
  } catch {
    return false;
  }
};
const results = await Promise.all(ports.map(healthy));
process.exit(results.includes(true) ? 0 : 1);
