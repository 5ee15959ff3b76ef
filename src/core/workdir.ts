/**
 * The work directory: objects are built here under a temporary name, then renamed into the upper
 * in one step, so a crash never leaves a half-built object at a real name. The layout is the
 * kernel's (`<workdir>/work`), so kernel overlayfs and unionmount can take turns on one upper.
 */
import type { WritableLayer } from '../layers/layer.js';

export class WorkDir {
  private counter = 0;

  constructor(readonly layer: WritableLayer) {}

  /** A fresh temporary name, like the kernel's `#<hex>`. */
  tempName(): string {
    return `#${(this.counter++).toString(16)}`;
  }

  /** Removes what a crash left behind; the kernel does the same at mount. */
  async clean(): Promise<void> {
    for (const { name } of await this.layer.readdir('')) await this.layer.removeTree(name);
  }
}
