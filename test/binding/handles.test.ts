// Open-file semantics with hard_remove + nullpath_ok, and xattr size probes / ERANGE / ENODATA.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canMount, mustMount, py, startMount, type Mount } from './harness.js';

describe.skipIf(!canMount && !mustMount)('binding: handles and xattrs', () => {
  let m: Mount;
  beforeAll(async () => {
    m = await startMount();
  });
  afterAll(async () => {
    await m?.close();
  });

  it('keeps I/O on an unlinked open file working, with no .fuse_hidden file', () => {
    const out = py(
      `
import os, sys
d = sys.argv[1] + '/dir'
os.mkdir(d)
fd = os.open(d + '/u', os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b'abc')
os.unlink(d + '/u')
os.pwrite(fd, b'XYZ', 3)
print(os.pread(fd, 10, 0).decode())
st = os.fstat(fd)
print(st.st_nlink, st.st_size)
os.ftruncate(fd, 2)
print(os.fstat(fd).st_size)
print(os.listdir(d))
os.rmdir(d)
os.close(fd)
`,
      m.mnt,
    );
    expect(out.trim().split('\n')).toEqual(['abcXYZ', '0 6', '2', '[]']);
    const hidden = (dir: string) => fs.readdirSync(dir, { recursive: true }).map(String);
    expect(
      [...hidden(m.mnt), ...hidden(m.backing)].filter((n) => n.includes('.fuse_hidden')),
    ).toEqual([]);
  });

  it('answers xattr size probes, ERANGE for a short buffer and ENODATA for a missing name', () => {
    const f = path.join(m.mnt, 'x');
    fs.writeFileSync(f, '');
    const out = py(
      `
import os, sys, ctypes, errno
f = sys.argv[1]
os.setxattr(f, 'user.big', b'v' * 300)
os.setxattr(f, b'user.\\xff', b'1')
print(len(os.getxattr(f, 'user.big')), sorted(os.fsencode(n) for n in os.listxattr(f)))
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(16)
print(libc.getxattr(f.encode(), b'user.big', None, 0))
print(libc.getxattr(f.encode(), b'user.big', buf, 16), errno.errorcode[ctypes.get_errno()])
print(libc.listxattr(f.encode(), buf, 4), errno.errorcode[ctypes.get_errno()])
try:
    os.getxattr(f, 'user.none')
except OSError as e:
    print(errno.errorcode[e.errno])
`,
      f,
    );
    expect(out.trim().split('\n')).toEqual([
      "300 [b'user.big', b'user.\\xff']",
      '300',
      '-1 ERANGE',
      '-1 ERANGE',
      'ENODATA',
    ]);
  });
});
