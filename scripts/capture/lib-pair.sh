# lib-pair.sh - sourced by capture scripts: a client and a server netns of the script's own, joined
# by a veth pair (server 198.18.7.2/30, client 198.18.7.1/30). The caller sets `tag` and its EXIT
# trap (calling pair_down) before pair_up, so that the undo is in place before the change.
pair_down() { ip netns del "$tag-s" 2>/dev/null || :; ip netns del "$tag-c" 2>/dev/null || :; }
pair_up() {
  ip netns add "$tag-s"; ip netns add "$tag-c"
  ip -n "$tag-s" link add "${tag}s" type veth peer name "${tag}c" netns "$tag-c"
  ip -n "$tag-s" addr add 198.18.7.2/30 dev "${tag}s"; ip -n "$tag-c" addr add 198.18.7.1/30 dev "${tag}c"
  ip -n "$tag-s" link set "${tag}s" up; ip -n "$tag-c" link set "${tag}c" up
  ip -n "$tag-s" link set lo up
}
