// Seeded randomness for tests (plain JS: the .mjs workload processes use it too).

/** mulberry32: a tiny seeded generator of floats in [0, 1); a seed always gives the same run. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Whole numbers in [0, n) from the same generator. */
export function rng(seed) {
  const next = mulberry32(seed);
  return (n) => Math.floor(next() * n);
}
