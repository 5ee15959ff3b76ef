"""Runs a list of file-system operations below a root and prints one result per operation.

Used by the conformance tests to run the same operations, as any user (setpriv), on kernel
overlayfs and on unionmount. Input (stdin): a JSON list of [op, *args]; paths are relative to the
root given as argv[1], and a character U+DC80..U+DCFF stands for one raw byte (surrogateescape),
so names that are not UTF-8 go through unchanged. Output (stdout): a JSON list, one entry per
operation: ["ok", value] or [errno name]. Open files live in a table (`open` returns its index),
so an operation may act on a file another one unlinked.
"""

import ctypes
import errno
import json
import mmap
import os
import socket
import stat
import sys

ROOT = os.fsencode(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
libc.getxattr.restype = ctypes.c_ssize_t
libc.listxattr.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
libc.listxattr.restype = ctypes.c_ssize_t
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
files = []
sockets = []


def p(rel):
    return os.path.join(ROOT, os.fsencode(rel)) if rel else ROOT


def name(raw):
    return os.fsdecode(raw)


def attrs(st):
    return {
        "type": stat.S_IFMT(st.st_mode),
        "mode": oct(stat.S_IMODE(st.st_mode)),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "size": st.st_size,
        "nlink": st.st_nlink,
    }


def times(st):
    """atime and mtime as strings (exact beyond 2^53); not ctime: it differs between mounts."""
    return {"atime": str(st.st_atime_ns), "mtime": str(st.st_mtime_ns)}


def sized_call(fn, args, size):
    """getxattr/listxattr with a caller-chosen buffer size (ERANGE when too small)."""
    buf = ctypes.create_string_buffer(max(size, 1))
    n = fn(*args, buf if size else None, size)
    if n < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return n if size == 0 else buf.raw[:n].decode("latin1")


def mmap_write(i, data, off=0):
    m = mmap.mmap(files[i], off + len(data))  # shared and writable
    m[off : off + len(data)] = data.encode("latin1")
    m.flush()
    m.close()


def fallocate(i, mode, offset, length):
    if libc.fallocate(files[i], mode, offset, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def bind(rel):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(p(rel))
    sockets.append(s)


def inodes():
    """Every object below the root: [path, st_ino, st_dev, readdir's d_ino]."""
    found = []

    def walk(rel):
        for entry in os.scandir(p(rel)):
            child = os.path.join(os.fsencode(rel), entry.name) if rel else entry.name
            st = os.lstat(entry.path)
            found.append([name(child), st.st_ino, st.st_dev, entry.inode()])
            if stat.S_ISDIR(st.st_mode):
                walk(name(child))

    root = os.lstat(ROOT)
    walk("")
    return [["", root.st_ino, root.st_dev, root.st_ino]] + sorted(found)


def atime_moves_on_read(rel):
    before = os.lstat(p(rel)).st_atime_ns
    open(p(rel), "rb").read()
    return os.lstat(p(rel)).st_atime_ns != before


def drop_caches():
    """The kernel forgets unused names and inodes: its next stat asks the filesystem again."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2")


def utime_now(rel):
    os.utime(p(rel), None)


OPS = {
    "create": lambda rel, mode=0o644: files.append(os.open(p(rel), os.O_CREAT | os.O_EXCL | os.O_RDWR, mode)) or len(files) - 1,
    "open": lambda rel, flags="r": files.append(os.open(p(rel), {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR, "a": os.O_WRONLY | os.O_APPEND}[flags])) or len(files) - 1,
    "close": lambda i: os.close(files[i]),
    "pread": lambda i, n, off=0: os.pread(files[i], n, off).decode("latin1"),
    "pwrite": lambda i, data, off=0: os.pwrite(files[i], data.encode("latin1"), off),
    "fwrite": lambda i, data: os.write(files[i], data.encode("latin1")),
    "fstat": lambda i: attrs(os.fstat(files[i])),
    "mmap_write": mmap_write,
    "mmap_read": lambda i, n: mmap.mmap(files[i], n, prot=mmap.PROT_READ)[:n].decode("latin1"),
    "ftruncate": lambda i, size: os.ftruncate(files[i], size),
    "fallocate": fallocate,
    "write": lambda rel, data: open(p(rel), "wb").write(data.encode("latin1")),
    "append": lambda rel, data: open(p(rel), "ab").write(data.encode("latin1")),
    "read": lambda rel: open(p(rel), "rb").read().decode("latin1"),
    "truncate": lambda rel, size: os.truncate(p(rel), size),
    "stat": lambda rel: attrs(os.lstat(p(rel))),
    "times": lambda rel: times(os.lstat(p(rel))),
    "blocks": lambda rel: os.lstat(p(rel)).st_blocks,
    "mtime_is": lambda rel, ns: os.lstat(p(rel)).st_mtime_ns == ns,
    "ctime": lambda rel: str(os.lstat(p(rel)).st_ctime_ns),
    "ctime_ge_mtime": lambda rel: os.lstat(p(rel)).st_ctime_ns >= os.lstat(p(rel)).st_mtime_ns,
    "access": lambda rel, mode: os.access(p(rel), mode),
    "mkdir": lambda rel, mode=0o755: os.mkdir(p(rel), mode),
    "rmdir": lambda rel: os.rmdir(p(rel)),
    "unlink": lambda rel: os.unlink(p(rel)),
    "rename": lambda a, b: os.rename(p(a), p(b)),
    "link": lambda a, b: os.link(p(a), p(b)),
    "symlink": lambda target, rel: os.symlink(os.fsencode(target), p(rel)),
    "readlink": lambda rel: name(os.readlink(p(rel))),
    "listdir": lambda rel: sorted(name(n) for n in os.listdir(p(rel))),
    "scandir": lambda rel: sorted([name(e.name), e.inode()] for e in os.scandir(p(rel))),
    "dino_is_ino": lambda rel: all(e.inode() == os.lstat(e.path).st_ino for e in os.scandir(p(rel))),
    "chmod": lambda rel, mode: os.chmod(p(rel), mode),
    "chown": lambda rel, uid, gid: os.lchown(p(rel), uid, gid),
    "utime": lambda rel, a, m: os.utime(p(rel), ns=(a, m)),
    "utime_now": utime_now,
    "atime_moves_on_read": atime_moves_on_read,
    "drop_caches": drop_caches,
    "mknod": lambda rel, mode, major=0, minor=0: os.mknod(p(rel), mode, os.makedev(major, minor)),
    "mkfifo": lambda rel, mode=0o644: os.mkfifo(p(rel), mode),
    "bind": bind,
    "setxattr": lambda rel, n, v, flags=0: os.setxattr(p(rel), n, v.encode("latin1"), flags, follow_symlinks=False),
    "getxattr": lambda rel, n: os.getxattr(p(rel), n, follow_symlinks=False).decode("latin1"),
    "getxattr_sized": lambda rel, n, size: sized_call(libc.getxattr, [p(rel), n.encode()], size),
    "listxattr": lambda rel: sorted(os.listxattr(p(rel), follow_symlinks=False)),
    "listxattr_sized": lambda rel, size: sized_call(libc.listxattr, [p(rel)], size),
    "removexattr": lambda rel, n: os.removexattr(p(rel), n, follow_symlinks=False),
    "inodes": inodes,
    "statfs_namemax": lambda: os.statvfs(ROOT).f_namemax,
    "ids": lambda: [os.getuid(), os.getgid(), os.getgroups()],
}


def run(op):
    try:
        value = OPS[op[0]](*op[1:])
        return ["ok"] if value is None else ["ok", value]
    except OSError as err:
        return [errno.errorcode.get(err.errno, str(err.errno))]
    except (IndexError, ValueError) as err:  # an fd that an earlier failed op never opened
        return [type(err).__name__]


print(json.dumps([run(op) for op in json.load(sys.stdin)]))
