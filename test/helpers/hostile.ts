/** Strings that break naive quoting, argv handling or parsers. */
export const HOSTILE = [
  '', ' ', "'", "''", '"', '\\', '$(touch /tmp/nfscope-pwned)', '`touch /tmp/nfscope-pwned`', '${HOME}', '$HOME',
  'a b', 'a\nb', 'a\tb', ';reboot', '&& rm -rf /', '| cat /etc/shadow', '>/tmp/x', '<(id)', '*', '?', '[a]', '~root',
  '-n', '--', '#comment', "it's", "'\"'\"'", 'ünïcødé ☃', '!', '!!', '%s%n', 'x'.repeat(5000), "\\'", '\u0001\u007f',
];
