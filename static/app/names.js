// Display names of the people in a conversation. The protocol's member list has ids and roles,
// not names; conversations are created titled "Advisor Name / Jobseeker Name" (by the follow-up
// workflow and by demo mode), which is where the pages read the other side's name from until a
// message of theirs carries it.

/**
 * The name of the member with `role` in a conversation, from its title (or their user id).
 * @param {import("./room-state.js").Room} room
 * @param {"advisor" | "jobseeker"} role
 */
export function otherNameOf(room, role) {
  const parts = room.title.split(" / ");
  if (parts.length === 2) return (role === "advisor" ? parts[0] : parts[1]).trim();
  const other = [...room.members.values()][0];
  return other?.name ?? other?.user ?? "";
}
