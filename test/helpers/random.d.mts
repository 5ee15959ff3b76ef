export function mulberry32(seed: number): () => number;
export function rng(seed: number): (n: number) => number;
