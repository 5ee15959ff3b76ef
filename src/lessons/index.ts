/** The lessons, in the order they are best read, and how one is run. */
import { building } from './building.js';
import { copyUp } from './copy-up.js';
import { deleting } from './deleting.js';
import { disposable } from './disposable.js';
import { opaque } from './opaque.js';
import { shared } from './shared.js';
import { Kit, type KitOptions, type Lesson } from './kit.js';

export type { Lesson } from './kit.js';

export const LESSONS: readonly Lesson[] = [disposable, deleting, copyUp, shared, building, opaque];

/** Runs a lesson in a fresh directory; true when its claim held. Nothing is left mounted. */
export async function runLesson(lesson: Lesson, options: KitOptions): Promise<boolean> {
  const kit = new Kit(options);
  try {
    kit.heading(lesson.title, lesson.claim);
    await lesson.run(kit);
    kit.verdict(lesson.claim);
    return kit.ok;
  } finally {
    await kit.close();
  }
}
