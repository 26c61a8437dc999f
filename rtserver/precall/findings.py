"""What the pre-call check tells a person about each problem it finds: a message and a remedy, in
French (the service's default language) and English, in plain words for a jobseeker.

A message may show the measured value (``{value}``), written the way each language writes numbers
(French: decimal comma, a non-breaking space before ``%`` and units). A finding that can be
blocking has a longer remedy for that case, ending with the fallback: the interview without video
or a phone call with the advisor. ``verdict.evaluate`` decides which findings apply.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

__all__ = ["MODE_TEXTS", "TEXTS", "FindingCode", "FindingText", "Severity", "finding", "mode_advice"]


class Severity(enum.StrEnum):
    INFO = "info"  # worth knowing; does not change the verdict
    WARNING = "warning"  # the interview works, less well: "ready-with-warnings"
    BLOCKING = "blocking"  # the interview would fail as planned: "not-ready"


class FindingCode(enum.StrEnum):
    BROWSER_UNSUPPORTED = "browser_unsupported"
    INSECURE_PAGE = "insecure_page"
    CAMERA_DENIED = "camera_denied"
    CAMERA_MISSING = "camera_missing"
    CAMERA_BUSY = "camera_busy"
    CAMERA_FAILED = "camera_failed"
    CAMERA_LOW_RESOLUTION = "camera_low_resolution"
    CAMERA_LOW_FRAMERATE = "camera_low_framerate"
    MICROPHONE_DENIED = "microphone_denied"
    MICROPHONE_MISSING = "microphone_missing"
    MICROPHONE_BUSY = "microphone_busy"
    MICROPHONE_FAILED = "microphone_failed"
    MICROPHONE_SILENT = "microphone_silent"
    MEDIA_FAILED = "media_failed"
    NETWORK_BLOCKED = "network_blocked"
    RELAY_USED = "relay_used"
    HIGH_LATENCY = "high_latency"
    HIGH_JITTER = "high_jitter"
    PACKET_LOSS = "packet_loss"
    LOW_BANDWIDTH = "low_bandwidth"


Texts = dict[str, str]  # language -> text


@dataclasses.dataclass(frozen=True, slots=True)
class FindingText:
    message: Texts
    remedy: Texts
    blocking_remedy: Texts | None = None  # when the same code can block, what to do then


NBSP = "\u00a0"  # French puts a non-breaking space before %, units and inside « »

_CALL_INSTEAD = {
    "fr": "Si cela ne suffit pas, demandez à votre conseiller de vous appeler par téléphone.",
    "en": "If that is not enough, ask your advisor for a phone call instead.",
}
_NETWORK_FIX = {
    "fr": "Branchez-vous par câble ou rapprochez-vous de la box Wi-Fi, et arrêtez les téléchargements, "
          "vidéos et autres appels en cours chez vous.",
    "en": "Connect by cable or move nearer the Wi-Fi box, and stop downloads, videos and other calls "
          "running on your network.",
}


def _then(first: Texts, second: Texts) -> Texts:
    return {lang: f"{first[lang]} {second[lang]}" for lang in first}


def _permission(device_fr: str, device_en: str, refused_fr: str) -> FindingText:
    """The texts of a refused permission: how to undo it is the same for both devices."""
    return FindingText(
        message={"fr": f"Vous avez refusé l'accès {refused_fr}.",
                 "en": f"Access to the {device_en} was refused."},
        remedy={"fr": "Cliquez sur l'icône du cadenas (ou de la caméra) à gauche de l'adresse de la page, "
                      f"choisissez {_quoted('Autoriser')} pour {device_fr}, puis rechargez la page et refaites "
                      "le test. Sur un ordinateur, vérifiez aussi que les réglages de confidentialité du "
                      f"système autorisent {device_fr}.",
                "en": "Click the lock (or camera) icon at the left of the page's address, choose \"Allow\" "
                      f"for the {device_en}, then reload the page and run the test again. On a computer, also "
                      f"check that the system's privacy settings allow the {device_en}."})


def _quoted(word: str) -> str:
    return f"«{NBSP}{word}{NBSP}»"


TEXTS: dict[FindingCode, FindingText] = {
    FindingCode.BROWSER_UNSUPPORTED: FindingText(
        message={"fr": "Ce navigateur ne permet pas les appels vidéo.",
                 "en": "This browser cannot make video calls."},
        remedy={"fr": "Ouvrez cette page dans un navigateur récent et à jour : Chrome, Firefox, Edge ou Safari. "
                      "Sinon, demandez à votre conseiller de vous appeler par téléphone.",
                "en": "Open this page in an up-to-date browser: Chrome, Firefox, Edge or Safari. "
                      "Otherwise, ask your advisor for a phone call instead."}),
    FindingCode.INSECURE_PAGE: FindingText(
        message={"fr": "Cette page doit être ouverte en HTTPS : sans cela, le navigateur ne donne accès ni à la "
                       "caméra ni au micro.",
                 "en": "This page must be opened over HTTPS: otherwise the browser gives it no access to the "
                       "camera or microphone."},
        remedy={"fr": "Ouvrez le lien envoyé par votre conseiller tel quel (son adresse commence par "
                      "https://), sans le recopier. Sinon, demandez à votre conseiller de vous appeler par "
                      "téléphone.",
                "en": "Open the link your advisor sent as it is (its address starts with https://), without "
                      "retyping it. Otherwise, ask your advisor for a phone call instead."}),
    FindingCode.CAMERA_DENIED: _permission("la caméra", "camera", "à la caméra"),
    FindingCode.CAMERA_MISSING: FindingText(
        message={"fr": "Aucune caméra n'a été trouvée.", "en": "No camera was found."},
        remedy={"fr": "Branchez une webcam, ou refaites le test sur un téléphone ou un ordinateur qui en a une. "
                      "Vous pouvez aussi passer l'entretien sans vidéo.",
                "en": "Plug in a webcam, or run the test again on a phone or computer that has one. "
                      "You can also have the interview without video."}),
    FindingCode.CAMERA_BUSY: FindingText(
        message={"fr": "La caméra est déjà utilisée par une autre application.",
                 "en": "The camera is already in use by another application."},
        remedy={"fr": "Fermez les autres applications qui utilisent la caméra (Teams, Zoom, Skype, un autre "
                      "onglet…), puis refaites le test.",
                "en": "Close other applications using the camera (Teams, Zoom, Skype, another tab…), "
                      "then run the test again."}),
    FindingCode.CAMERA_FAILED: FindingText(
        message={"fr": "La caméra n'a pas pu démarrer.", "en": "The camera could not be started."},
        remedy={"fr": "Débranchez puis rebranchez la caméra, ou redémarrez l'appareil, puis refaites le test. "
                      "Vous pouvez aussi passer l'entretien sans vidéo.",
                "en": "Unplug the camera and plug it back in, or restart the device, then run the test again. "
                      "You can also have the interview without video."}),
    FindingCode.CAMERA_LOW_RESOLUTION: FindingText(
        message={"fr": f"L'image de la caméra est petite ({{value}}{NBSP}pixels sur le petit côté) : votre conseiller "
                       "vous verra moins bien.",
                 "en": "The camera's picture is small ({value} pixels on its short side): your advisor will see you "
                       "less clearly."},
        remedy={"fr": "Si vous avez une autre caméra, choisissez-la. Sinon, l'entretien reste possible.",
                "en": "If you have another camera, use it. Otherwise, the interview is still possible."}),
    FindingCode.CAMERA_LOW_FRAMERATE: FindingText(
        message={"fr": "La caméra ne donne que {value} images par seconde : l'image sera saccadée.",
                 "en": "The camera gives only {value} frames per second: the picture will be jerky."},
        remedy={"fr": "Éclairez mieux la pièce (dans la pénombre, les caméras ralentissent) et fermez les "
                      "applications qui occupent l'ordinateur.",
                "en": "Light the room better (cameras slow down in the dark) and close applications that "
                      "keep the computer busy."}),
    FindingCode.MICROPHONE_DENIED: _permission("le micro", "microphone", "au micro"),
    FindingCode.MICROPHONE_MISSING: FindingText(
        message={"fr": "Aucun micro n'a été trouvé.", "en": "No microphone was found."},
        remedy={"fr": "Branchez un micro ou un casque avec micro, ou refaites le test sur un téléphone. "
                      "Sinon, demandez à votre conseiller de vous appeler par téléphone.",
                "en": "Plug in a microphone or a headset with one, or run the test again on a phone. "
                      "Otherwise, ask your advisor for a phone call instead."}),
    FindingCode.MICROPHONE_BUSY: FindingText(
        message={"fr": "Le micro est déjà utilisé par une autre application.",
                 "en": "The microphone is already in use by another application."},
        remedy={"fr": "Fermez les autres applications qui utilisent le micro (Teams, Zoom, Skype, un autre "
                      "onglet…), puis refaites le test.",
                "en": "Close other applications using the microphone (Teams, Zoom, Skype, another tab…), "
                      "then run the test again."}),
    FindingCode.MICROPHONE_FAILED: FindingText(
        message={"fr": "Le micro n'a pas pu démarrer.", "en": "The microphone could not be started."},
        remedy={"fr": "Débranchez puis rebranchez le micro ou le casque, ou redémarrez l'appareil, puis refaites "
                      "le test. Sinon, demandez à votre conseiller de vous appeler par téléphone.",
                "en": "Unplug the microphone or headset and plug it back in, or restart the device, then run "
                      "the test again. Otherwise, ask your advisor for a phone call instead."}),
    FindingCode.MICROPHONE_SILENT: FindingText(
        message={"fr": "Le micro ne capte aucun son.", "en": "The microphone picks up no sound."},
        remedy={"fr": "Vérifiez que le micro n'est pas coupé (touche ou bouton "
                      f"{_quoted('muet')} du casque), qu'il est bien branché et que c'est le bon micro qui est "
                      "choisi, puis parlez pendant le test.",
                "en": "Check that the microphone is not muted (the mute key or the headset's button), that it "
                      "is plugged in and that the right one is chosen, then speak during the test."}),
    FindingCode.MEDIA_FAILED: FindingText(
        message={"fr": "Le test du son et de l'image n'a pas pu se connecter au serveur.",
                 "en": "The sound and picture test could not connect to the server."},
        remedy={"fr": "Rechargez la page et refaites le test. Si cela recommence, essayez un autre réseau "
                      "(par exemple le partage de connexion de votre téléphone), ou demandez à votre "
                      "conseiller de vous appeler par téléphone.",
                "en": "Reload the page and run the test again. If it happens again, try another network "
                      "(your phone's hotspot, for instance), or ask your advisor for a phone call instead."}),
    FindingCode.NETWORK_BLOCKED: FindingText(
        message={"fr": "Votre réseau bloque les appels vidéo.", "en": "Your network blocks video calls."},
        remedy={"fr": "Essayez un autre réseau : chez vous plutôt qu'au travail ou dans un lieu public, ou le "
                      "partage de connexion de votre téléphone. Sinon, demandez à votre conseiller de vous "
                      "appeler par téléphone.",
                "en": "Try another network: at home rather than at work or in a public place, or your "
                      "phone's hotspot. Otherwise, ask your advisor for a phone call instead."}),
    FindingCode.RELAY_USED: FindingText(
        message={"fr": "Votre réseau bloque la vidéo directe : nous passerons par le relais.",
                 "en": "Your network blocks direct video: we will use the relay."},
        remedy={"fr": "Rien à faire : l'appel passera par notre serveur relais. Si le son ou l'image coupent, "
                      "essayez un autre réseau.",
                "en": "Nothing to do: the call will go through our relay server. If sound or picture cut "
                      "out, try another network."}),
    FindingCode.HIGH_LATENCY: FindingText(
        message={"fr": f"Le son et l'image arrivent en retard ({{value}}{NBSP}ms aller-retour) : vous risquez "
                       "de vous couper la parole.",
                 "en": "Sound and picture arrive late ({value} ms round trip): you may talk over each other."},
        remedy=_then(_NETWORK_FIX, {"fr": "Pendant l'entretien, laissez l'autre finir avant de parler.",
                                    "en": "During the interview, let the other person finish before you "
                                          "speak."}),
        blocking_remedy=_then(_NETWORK_FIX, _CALL_INSTEAD)),
    FindingCode.HIGH_JITTER: FindingText(
        message={"fr": f"Votre connexion est irrégulière (gigue de {{value}}{NBSP}ms) : le son peut hacher.",
                 "en": "Your connection is irregular ({value} ms of jitter): sound may break up."},
        remedy=_NETWORK_FIX),
    FindingCode.PACKET_LOSS: FindingText(
        message={"fr": f"Votre connexion perd {{value}}{NBSP}% des paquets de son et d'image : ils peuvent "
                       "couper.",
                 "en": "Your connection loses {value}% of sound and picture packets: they may cut out."},
        remedy=_NETWORK_FIX,
        blocking_remedy=_then(_NETWORK_FIX, _CALL_INSTEAD)),
    FindingCode.LOW_BANDWIDTH: FindingText(
        message={"fr": f"Votre connexion ne fait passer que {{value}}{NBSP}kbit/s : l'image sera floue ou coupée.",
                 "en": "Your connection carries only {value} kbit/s: the picture will be blurry or cut out."},
        remedy=_NETWORK_FIX,
        blocking_remedy=_then(_NETWORK_FIX, {
            "fr": "Sinon, passez l'entretien sans vidéo, ou demandez à votre conseiller de vous appeler "
                  "par téléphone.",
            "en": "Otherwise, have the interview without video, or ask your advisor for a phone call instead."})),
}


# What the check says the interview can be, in plain words: the best mode that will work (see
# verdict.Mode), and what to do about it. The findings say why.
MODE_TEXTS: dict[str, FindingText] = {
    "video": FindingText(
        message={"fr": "Votre connexion permet l'entretien en vidéo.",
                 "en": "Your connection can carry the video interview."},
        remedy={"fr": "Rejoignez l'entretien en vidéo à l'heure prévue.",
                "en": "Join the interview with video at the planned time."}),
    "audio": FindingText(
        message={"fr": "Votre connexion ne permet pas la vidéo, mais l'entretien peut se faire avec le son "
                       "seulement.",
                 "en": "Your connection cannot carry video, but the interview can take place with sound only."},
        remedy={"fr": f"Au moment de l'entretien, choisissez {_quoted('Rejoindre en audio seulement')}. Vous "
                      "pouvez aussi demander à votre conseiller de vous appeler par téléphone.",
                "en": "When the interview starts, choose \"Join with audio only\". You can also ask your "
                      "advisor for a phone call instead."}),
    "none": FindingText(
        message={"fr": "L'entretien ne pourra pas se faire en ligne d'ici, même sans vidéo.",
                 "en": "The interview cannot take place online from here, not even with sound only."},
        remedy={"fr": "Suivez les conseils ci-dessous et refaites le test, ou demandez à votre conseiller de "
                      "vous appeler par téléphone.",
                "en": "Follow the advice below and run the test again, or ask your advisor for a phone call "
                      "instead."}),
}


def mode_advice(mode: str) -> dict[str, Any]:
    """The mode's message and remedy in each language, as the result carries them (``advice``)."""
    text = MODE_TEXTS[mode]
    return {"message": dict(text.message), "remedy": dict(text.remedy)}


def _number(value: float, lang: str) -> str:
    """At most one decimal, none when it is 0; a decimal comma in French."""
    text = f"{value:.1f}".removesuffix(".0")
    return text.replace(".", ",") if lang == "fr" else text


def finding(code: FindingCode, severity: Severity, value: float | None = None) -> dict[str, Any]:
    """The finding as the result carries it: code, severity, message and remedy in each language,
    and the measured value the message shows (``None`` for findings that measure nothing)."""
    text = TEXTS[code]
    remedy = text.blocking_remedy if severity is Severity.BLOCKING and text.blocking_remedy else text.remedy
    shown = {lang: "" if value is None else _number(value, lang) for lang in text.message}
    return {"code": code.value, "severity": severity.value,
            "message": {lang: message.format(value=shown[lang]) for lang, message in text.message.items()},
            "remedy": dict(remedy), "value": value}
