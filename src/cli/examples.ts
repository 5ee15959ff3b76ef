/** An example for each command's --help, where its own file gives none. */
export const EXAMPLES: Record<string, string[]> = {
  umount: ['unionmount umount /mnt', 'unionmount umount --lazy /mnt    # files still open'],
  lesson: ['unionmount lesson', 'unionmount lesson copy-up'],
  inspect: [
    'unionmount inspect --lower image/l2:image/l1 --upper container /etc/app.conf',
    'unionmount inspect /mnt /etc/app.conf --json',
    'unionmount inspect --mount /mnt',
  ],
  diff: [
    'unionmount diff --lower image/l2:image/l1 --upper container',
    'unionmount diff --content --lower l --upper c',
  ],
  discard: ['unionmount discard --upper container'],
  df: ['unionmount df --lower image/l2:image/l1 --upper c1 --upper c2'],
  apply: [
    'unionmount apply --upper ../sandbox --dry-run .',
    'unionmount apply --upper ../sandbox . --only /src',
  ],
  cat: ['unionmount cat --lower image/l2:image/l1 --layer 2 /etc/secret'],
  extract: ['unionmount extract --lower image/l2:image/l1 --layer 2 /etc/secret ./secret'],
  layers: [
    'unionmount layers --lower image/l3:image/l2:image/l1 --json',
    'unionmount layers --lower l2:l1 --ci --lowest-efficiency 0.9',
  ],
  import: ['unionmount import image.tar image/    # prints the --lower string to mount it'],
  export: ['unionmount export --upper container --lower image/l2:image/l1 --mtime 0 layer.tar'],
};
