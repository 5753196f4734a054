// Measures what an E2B user waits for: Sandbox.create() until the first
// runCode result, with the unchanged SDK against a running warmbox
// (not a test; docs/BENCHMARKS.md quotes it). One sandbox at a time,
// killed after each run, so every create takes a warm sandbox from the
// pool as a new user would.
//
//   WARMBOX_URL=http://127.0.0.1:8000 node measure-e2b.mjs [runs]
const base = (process.env.WARMBOX_URL || 'http://127.0.0.1:8000').replace(/\/$/, '');
process.env.E2B_API_URL = process.env.E2B_SANDBOX_URL = `${base}/e2b`;
process.env.E2B_API_KEY ||= 'e2b_measure';
const { Sandbox } = await import('@e2b/code-interpreter');
const runs = Number(process.argv[2] || 20);
const createMs = [], firstMs = [], nextMs = [];
for (let i = 0; i < runs + 1; i++) {
  const t0 = performance.now();
  const sbx = await Sandbox.create();
  const t1 = performance.now();
  const ex = await sbx.runCode('x = 20\nx + 22');
  const t2 = performance.now();
  await sbx.runCode('x + 1');
  const t3 = performance.now();
  if (ex.text !== '42') throw new Error(`unexpected result ${ex.text}`);
  await sbx.kill();
  if (i === 0) continue; // warm-up
  createMs.push(t1 - t0); firstMs.push(t2 - t0); nextMs.push(t3 - t2);
  await new Promise((r) => setTimeout(r, 300)); // let the pool refill: one user at a time
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const p90 = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length * 0.9)];
console.log(`runs ${runs} (after 1 warm-up), one at a time, 300 ms apart`);
console.log(`create:                   p50 ${median(createMs).toFixed(1)} ms  p90 ${p90(createMs).toFixed(1)} ms`);
console.log(`create to first result:   p50 ${median(firstMs).toFixed(1)} ms  p90 ${p90(firstMs).toFixed(1)} ms`);
console.log(`a later runCode:          p50 ${median(nextMs).toFixed(1)} ms  p90 ${p90(nextMs).toFixed(1)} ms`);
