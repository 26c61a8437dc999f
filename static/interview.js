// The interview page (interview.html): wires the SDK to a few buttons and video tiles.
//
// URL: /static/interview.html?room=ROOM&lang=fr#token=TOKEN  (see the note in interview.html
// on why the token sits in the fragment). The server is the page's own origin.

import { RtClient } from "/static/rtclient.js";

/** Every string the page shows, per language (French first: the service's users speak it). */
const STRINGS = {
  fr: {
    title: "Entretien vidéo", you: "Vous", microphone: "Micro", camera: "Caméra", leave: "Quitter",
    sound: "Activer le son", microphoneOn: "Couper le micro", microphoneOff: "Activer le micro",
    cameraOn: "Couper la caméra", cameraOff: "Activer la caméra", leaveLabel: "Quitter l'entretien",
    participants: "Participants", connecting: "Connexion…", waiting: "En attente des autres participants…",
    inCall: "Entretien en cours", reconnecting: "Connexion perdue, reconnexion…", left: "Vous avez quitté l'entretien.",
    closed: "L'entretien est terminé pour cette page.", noToken: "Lien incomplet : jeton d'accès manquant.",
    noRoom: "Lien incomplet : entretien non précisé.", failed: "Impossible de rejoindre l'entretien : ",
    joinedBy: (/** @type {string} */ name) => `${name} a rejoint l'entretien`,
    leftBy: (/** @type {string} */ name) => `${name} a quitté l'entretien`,
    droppedBy: (/** @type {string} */ name) => `${name} a perdu la connexion`,
    resumedBy: (/** @type {string} */ name) => `${name} est de retour`,
    videoOf: (/** @type {string} */ name) => `Vidéo de ${name}`, yourVideo: "Votre vidéo",
    pausedYouSend: "Votre connexion est trop faible pour la vidéo : l'entretien continue avec le son seulement. Les autres vous entendent mais ne vous voient plus. La vidéo reviendra d'elle-même quand la connexion s'améliorera.",
    pausedYouReceive: "Votre connexion est trop faible pour la vidéo : l'entretien continue avec le son seulement. La vidéo reviendra d'elle-même quand la connexion s'améliorera.",
    pausedTheySend: (/** @type {string} */ name) => `La connexion de ${name} est trop faible pour la vidéo : sa vidéo est en pause, le son continue. Elle reviendra d'elle-même.`,
    pausedTheyReceive: (/** @type {string} */ name) => `La connexion de ${name} est trop faible pour la vidéo : votre vidéo ne lui parvient plus, mais votre voix oui.`,
    backYouSend: "Votre connexion s'est améliorée : les autres vous voient de nouveau.",
    backYouReceive: "Votre connexion s'est améliorée : la vidéo est de retour.",
    backTheySend: (/** @type {string} */ name) => `La connexion de ${name} s'est améliorée : sa vidéo est de retour.`,
    backTheyReceive: (/** @type {string} */ name) => `La connexion de ${name} s'est améliorée : votre vidéo lui parvient de nouveau.`,
    soundOnly: "Son seulement : la connexion est trop faible pour la vidéo.",
    youPaused: "Votre vidéo est en pause : on vous entend, sans vous voir.",
  },
  en: {
    title: "Video interview", you: "You", microphone: "Microphone", camera: "Camera", leave: "Leave",
    sound: "Turn sound on", microphoneOn: "Mute microphone", microphoneOff: "Unmute microphone",
    cameraOn: "Turn camera off", cameraOff: "Turn camera on", leaveLabel: "Leave the interview",
    participants: "Participants", connecting: "Connecting…", waiting: "Waiting for the others…",
    inCall: "Interview in progress", reconnecting: "Connection lost, reconnecting…", left: "You left the interview.",
    closed: "The interview has ended for this page.", noToken: "Incomplete link: access token missing.",
    noRoom: "Incomplete link: no interview given.", failed: "Could not join the interview: ",
    joinedBy: (/** @type {string} */ name) => `${name} joined the interview`,
    leftBy: (/** @type {string} */ name) => `${name} left the interview`,
    droppedBy: (/** @type {string} */ name) => `${name} lost their connection`,
    resumedBy: (/** @type {string} */ name) => `${name} is back`,
    videoOf: (/** @type {string} */ name) => `Video of ${name}`, yourVideo: "Your video",
    pausedYouSend: "Your connection is too weak for video: the interview continues with sound only. The others hear you but no longer see you. Video will come back by itself when the connection improves.",
    pausedYouReceive: "Your connection is too weak for video: the interview continues with sound only. Video will come back by itself when the connection improves.",
    pausedTheySend: (/** @type {string} */ name) => `${name}'s connection is too weak for video: their video is paused, the sound goes on. It will come back by itself.`,
    pausedTheyReceive: (/** @type {string} */ name) => `${name}'s connection is too weak for video: your video no longer reaches them, your voice does.`,
    backYouSend: "Your connection is better: the others see you again.",
    backYouReceive: "Your connection is better: video is back.",
    backTheySend: (/** @type {string} */ name) => `${name}'s connection is better: their video is back.`,
    backTheyReceive: (/** @type {string} */ name) => `${name}'s connection is better: your video reaches them again.`,
    soundOnly: "Sound only: the connection is too weak for video.",
    youPaused: "Your video is paused: you are heard, not seen.",
  },
};

const query = new URLSearchParams(location.search);
const lang = query.get("lang") === "en" ? "en" : "fr";
const t = STRINGS[lang];
const room = query.get("room") ?? "";
const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const status = (/** @type {string} */ text) => { $("status").textContent = text; };
const microphoneButton = /** @type {HTMLButtonElement} */ ($("microphone"));
const cameraButton = /** @type {HTMLButtonElement} */ ($("camera"));
const leaveButton = /** @type {HTMLButtonElement} */ ($("leave"));
const soundButton = /** @type {HTMLButtonElement} */ ($("sound"));

function applyStrings() {
  document.documentElement.lang = lang;
  document.title = t.title;
  $("title").textContent = t.title;
  $("tiles").setAttribute("aria-label", t.participants);
  $("local-caption").textContent = t.you;
  $("local-video").setAttribute("aria-label", t.yourVideo);
  microphoneButton.textContent = t.microphone;
  cameraButton.textContent = t.camera;
  leaveButton.textContent = t.leave;
  leaveButton.setAttribute("aria-label", t.leaveLabel);
  soundButton.textContent = t.sound;
}

/**
 * @param {HTMLButtonElement} button
 * @param {boolean} on
 * @param {string} labelOn
 * @param {string} labelOff
 */
function showToggle(button, on, labelOn, labelOff) {
  button.setAttribute("aria-pressed", String(on));
  button.setAttribute("aria-label", on ? labelOn : labelOff);
}

/** @param {string} user */
function tileOf(user) {
  let tile = document.querySelector(`figure[data-user="${CSS.escape(user)}"]`);
  if (!tile) {
    tile = document.createElement("figure");
    tile.setAttribute("data-user", user);
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    const note = document.createElement("p");
    note.className = "tile-note";
    note.hidden = true;
    const caption = document.createElement("figcaption");
    tile.append(video, note, caption);
    $("tiles").append(tile);
  }
  return /** @type {HTMLElement} */ (tile);
}

/**
 * @param {string} user
 * @param {string} name
 */
function nameTile(user, name) {
  const tile = tileOf(user);
  /** @type {HTMLElement} */ (tile.querySelector("figcaption")).textContent = name;
  /** @type {HTMLElement} */ (tile.querySelector("video")).setAttribute("aria-label", t.videoOf(name));
}

/** @param {HTMLVideoElement} video */
async function play(video) {
  try {
    await video.play();
  } catch {
    // Autoplay with sound needs a user gesture in most browsers: offer one.
    video.muted = true;
    await video.play().catch(() => {});
    soundButton.hidden = false;
  }
}

/**
 * "Sound only" on a tile whose video the node paused, instead of a frozen picture.
 * @param {HTMLElement} tile
 * @param {string} text  empty: video flows
 */
function noteTile(tile, text) {
  tile.classList.toggle("video-paused", Boolean(text));
  const note = /** @type {HTMLElement} */ (tile.querySelector(".tile-note"));
  note.textContent = text;
  note.hidden = !text;
}

/**
 * Show which video the node paused (`media_fallback`): the others' tiles, this page's preview.
 * @param {import("/static/rtclient.js").Interview} interview
 */
function showPaused(interview) {
  for (const tile of document.querySelectorAll("figure[data-user]")) {
    const user = /** @type {HTMLElement} */ (tile).dataset.user ?? "";
    noteTile(/** @type {HTMLElement} */ (tile),
      interview.receivePaused || interview.pausedFrom.has(user) ? t.soundOnly : "");
  }
  noteTile($("local-tile"), interview.sendPaused && interview.camera ? t.youPaused : "");
}

async function main() {
  applyStrings();
  if (!token) return status(t.noToken);
  if (!room) return status(t.noRoom);
  status(t.connecting);
  // The token is fixed for this page; a portal's page would fetch a fresh one here.
  const client = new RtClient({ token: () => token });
  const interview = client.interview(room);
  /** @type {any} */ (window).interviewPage = { client, interview }; // for the browser tests and debugging

  client.on("disconnected", () => status(t.reconnecting));
  client.on("reconnected", () => status(t.inCall));
  client.on("closed", () => status(t.closed));
  interview.on("remote_stream", ({ user, stream }) => {
    const tile = tileOf(user);
    const video = /** @type {HTMLVideoElement} */ (tile.querySelector("video"));
    if (video.srcObject !== stream) video.srcObject = stream;
    tile.classList.toggle("camera-off", stream.getVideoTracks().length === 0);
    play(video);
  });
  interview.on("participant", ({ user, name, event }) => {
    const label = name || user;
    if (event === "left") {
      document.querySelector(`figure[data-user="${CSS.escape(user)}"]`)?.remove();
      status(t.leftBy(label));
    } else {
      nameTile(user, label);
      const says = { dropped: t.droppedBy, resumed: t.resumedBy }[/** @type {string} */ (event)] ?? t.joinedBy;
      status(says(label));
    }
  });
  interview.on("tracks", ({ user, tracks, self }) => {
    if (self) return;
    tileOf(user).classList.toggle("camera-off", !tracks.some((/** @type {any} */ tr) => tr.kind === "video"));
  });
  interview.on("fallback", ({ user, direction, video, self }) => {
    const name = interview.participants.get(user)?.name || user;
    const key = `${video === false ? "paused" : "back"}${self ? "You" : "They"}${direction === "send" ? "Send" : "Receive"}`;
    const text = /** @type {string | ((name: string) => string)} */ (/** @type {any} */ (t)[key]);
    status(typeof text === "function" ? text(name) : text);
    showPaused(interview);
  });
  interview.on("closed", ({ reason }) => {
    status(reason === "left" ? t.left : t.closed);
    for (const button of [microphoneButton, cameraButton, leaveButton]) button.disabled = true;
  });

  try {
    await client.connect();
    await interview.join({ audio: true, video: true });
    // Others may have come (or gone) while this page was publishing: read the current list.
    for (const participant of interview.participants.values()) {
      nameTile(participant.user, participant.name || participant.user);
    }
    status(interview.participants.size ? t.inCall : t.waiting);
  } catch (error) {
    status(t.failed + (error instanceof Error ? error.message : String(error)));
    return;
  }
  const localVideo = /** @type {HTMLVideoElement} */ ($("local-video"));
  localVideo.srcObject = interview.localStream;
  showToggle(microphoneButton, interview.microphone, t.microphoneOn, t.microphoneOff);
  showToggle(cameraButton, interview.camera, t.cameraOn, t.cameraOff);
  for (const button of [microphoneButton, cameraButton, leaveButton]) button.disabled = false;

  microphoneButton.onclick = async () => {
    await interview.setMicrophone(!interview.microphone);
    showToggle(microphoneButton, interview.microphone, t.microphoneOn, t.microphoneOff);
  };
  cameraButton.onclick = async () => {
    await interview.setCamera(!interview.camera);
    $("local-tile").classList.toggle("camera-off", !interview.camera);
    showPaused(interview);
    showToggle(cameraButton, interview.camera, t.cameraOn, t.cameraOff);
  };
  leaveButton.onclick = () => interview.leave();
  soundButton.onclick = () => {
    for (const video of document.querySelectorAll("figure[data-user] video")) {
      /** @type {HTMLVideoElement} */ (video).muted = false;
    }
    soundButton.hidden = true;
  };
}

main();
