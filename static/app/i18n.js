// Every text the web client shows, in French (the default: the service's users speak it) and
// English. Pages call `t("key", ...args)`; a function entry takes arguments (names, counts).
//
// The language comes from `?lang=fr|en`, then from the choice kept for the tab (./storage.js),
// then French.

import { keep, readKept } from "./storage.js";

/** @typedef {Record<string, string | ((...args: any[]) => string)>} Strings */

const LANG_KEY = "rtserver.lang";

/** @type {Record<"fr" | "en", Strings>} */
export const STRINGS = {
  fr: {
    // common
    appName: "Suivi en ligne", switchLang: "English", switchLangLabel: "Show this page in English",
    signOut: "Changer d'utilisateur", loading: "Chargement…",
    connecting: "Connexion au service…", connected: "Connecté",
    connectionLost: "Connexion perdue. Reconnexion en cours… Vos messages seront envoyés dès le retour de la connexion.",
    connectionBack: "Connexion rétablie : vous êtes à jour.",
    connectionClosed: "La session est terminée. Rechargez la page pour vous reconnecter.",
    noSession: "Vous n'êtes pas connecté.", signInLink: "Se connecter",
    failed: (/** @type {string} */ why) => `Une erreur est survenue : ${why}`,
    refusedOrigin: (/** @type {string} */ param) => `Connexion refusée : ce lien (${param}) désigne un site que ce service n'autorise pas.`,
    // presence
    online: "En ligne", away: "Absent", offline: "Hors ligne",
    available: "Disponible", busy: "Occupé", unavailable: "Indisponible",
    presenceOf: (/** @type {string} */ name, /** @type {string} */ state) => `${name} : ${state}`,
    // chat
    conversation: "Conversation", conversationWith: (/** @type {string} */ name) => `Conversation avec ${name}`,
    messages: "Messages", newMessages: "Nouveaux messages", olderMessages: "Afficher les messages précédents",
    noMessages: "Pas encore de message.", yourMessage: "Votre message", send: "Envoyer",
    sendHint: "Entrée pour envoyer, Maj+Entrée pour aller à la ligne.",
    charCount: (/** @type {number} */ n, /** @type {number} */ max) =>
      `${n.toLocaleString("fr")} caractères sur ${max.toLocaleString("fr")} au plus`,
    tooLong: (/** @type {number} */ over, /** @type {number} */ max) =>
      `Message trop long de ${over.toLocaleString("fr")} caractère${over > 1 ? "s" : ""} (${max.toLocaleString("fr")} au plus) : raccourcissez-le pour l'envoyer.`,
    you: "Vous", system: "Suivi",
    sending: "Envoi en cours", delivered: "Envoyé", read: "Lu", notSent: "Non envoyé",
    typing: (/** @type {string} */ name) => `${name} écrit…`,
    newMessageFrom: (/** @type {string} */ name, /** @type {string} */ text) => `Nouveau message de ${name} : ${text}`,
    unreadCount: (/** @type {number} */ n) => n === 1 ? "1 message non lu" : `${n} messages non lus`,
    // chat: messages waiting for the connection, the phone's composer
    waitingToSend: "En attente de la connexion : sera envoyé à son retour",
    retrySend: "Réessayer", cancelSend: "Annuler l'envoi",
    sendHintTouch: "Entrée pour aller à la ligne, bouton Envoyer pour envoyer.",
    // the check page: the still picture, the way back, the sound's quality in words
    precallStill: "Votre image pendant le test", precallBack: "Retour à mon espace",
    voice_excellent: "excellente", voice_good: "bonne", voice_fair: "correcte, parfois moins nette",
    voice_poor: "médiocre, des mots peuvent se perdre", voice_bad: "mauvaise, difficile à comprendre",
    // interview
    interview: "Entretien vidéo", joinInterview: "Rejoindre l'entretien vidéo", startInterview: "Démarrer l'entretien vidéo",
    joinAudio: "Rejoindre en audio seulement",
    waitingForYou: "Je suis dans l'entretien vidéo et je vous attends.",
    interviewInvite: "J'ai démarré l'entretien vidéo : rejoignez-moi avec le bouton « Rejoindre l'entretien vidéo ».",
    yourVideo: "Votre image", videoOf: (/** @type {string} */ name) => `Vidéo de ${name}`,
    microphone: "Micro", camera: "Caméra", audioOnly: "Audio seul", leave: "Quitter",
    muteMicrophone: "Couper le micro", unmuteMicrophone: "Activer le micro",
    cameraOffLabel: "Couper la caméra", cameraOnLabel: "Activer la caméra",
    audioOnlyOn: "Passer en audio seul (connexion faible)", audioOnlyOff: "Recevoir la vidéo à nouveau",
    leaveLabel: "Quitter l'entretien", soundOn: "Activer le son",
    waiting: "En attente de l'autre participant…", inCall: "Entretien en cours", left: "Vous avez quitté l'entretien.",
    joinedBy: (/** @type {string} */ name) => `${name} a rejoint l'entretien`,
    leftBy: (/** @type {string} */ name) => `${name} a quitté l'entretien`,
    droppedBy: (/** @type {string} */ name) => `${name} a perdu la connexion`,
    resumedBy: (/** @type {string} */ name) => `${name} est de retour`,
    cameraDenied: "Caméra ou micro inaccessible : vérifiez les autorisations du navigateur.",
    quality: "Qualité de connexion", qualityOf: (/** @type {string} */ name) => `Connexion de ${name}`,
    qualityLine: (/** @type {string} */ label, /** @type {string} */ word) => `${label} : ${word}`,
    qualityGood: "bonne", qualityFair: "moyenne", qualityPoor: "faible", qualityUnknown: "en cours de mesure",
    qualityDetail: (/** @type {number} */ loss, /** @type {number} */ rtt) => `pertes ${loss} %, délai ${rtt} ms`,
    // interview: both directions, and video paused by the node (one block)
    link_from_me_bad_their_link: (/** @type {string} */ n) => `${n} reçoit mal votre vidéo : sa connexion est faible`,
    link_from_me_bad_your_upload: (/** @type {string} */ n) => `${n} ne vous voit pas bien : votre connexion envoie trop peu`,
    link_to_me_bad_their_upload: (/** @type {string} */ n) => `Vous voyez ou entendez mal ${n} : sa connexion envoie trop peu`,
    link_to_me_bad_your_link: (/** @type {string} */ n) => `Vous voyez ou entendez mal ${n} : votre connexion est faible`,
    link_from_me_paused_your_upload: (/** @type {string} */ n) => `${n} ne vous voit plus, mais vous entend : votre connexion est trop faible pour envoyer la vidéo`,
    link_from_me_paused_their_link: (/** @type {string} */ n) => `La connexion de ${n} est faible : votre vidéo ne lui parvient plus, mais votre voix oui`,
    link_to_me_paused_their_upload: (/** @type {string} */ n) => `La connexion de ${n} est faible : sa vidéo est en pause, le son continue`,
    link_to_me_paused_your_link: (/** @type {string} */ n) => `Votre connexion est faible : la vidéo de ${n} est en pause, le son continue`,
    videoPausedYouSend: (/** @type {string} */ n) => `Votre connexion est trop faible pour la vidéo : l'entretien continue avec le son seulement. ${n} vous entend mais ne vous voit plus. La vidéo reviendra d'elle-même quand la connexion s'améliorera.`,
    videoPausedYouReceive: (/** @type {string} */ n) => `Votre connexion est trop faible pour la vidéo : l'entretien continue avec le son seulement. Vous entendez ${n} mais ne voyez plus son image. La vidéo reviendra d'elle-même quand la connexion s'améliorera.`,
    videoPausedTheySend: (/** @type {string} */ n) => `La connexion de ${n} est trop faible pour la vidéo : sa vidéo est en pause et l'entretien continue avec le son seulement. Elle reviendra d'elle-même quand sa connexion s'améliorera.`,
    videoPausedTheyReceive: (/** @type {string} */ n) => `La connexion de ${n} est trop faible pour la vidéo : votre vidéo ne lui parvient plus, mais votre voix oui. Elle reviendra d'elle-même quand sa connexion s'améliorera.`,
    videoBackYouSend: (/** @type {string} */ n) => `Votre connexion s'est améliorée : ${n} vous voit de nouveau.`,
    videoBackYouReceive: (/** @type {string} */ n) => `Votre connexion s'est améliorée : vous voyez de nouveau ${n}.`,
    videoBackTheySend: (/** @type {string} */ n) => `La connexion de ${n} s'est améliorée : sa vidéo est de retour.`,
    videoBackTheyReceive: (/** @type {string} */ n) => `La connexion de ${n} s'est améliorée : votre vidéo lui parvient de nouveau.`,
    tileVideoPaused: "Son seulement : la connexion est trop faible pour la vidéo. Elle reviendra d'elle-même.",
    tileAudioOnly: "Son seulement (audio seul choisi)",
    tileYouPaused: "Votre vidéo est en pause : on vous entend, sans vous voir.",
    // callbacks
    callMeBack: "Être rappelé", callbackReason: "Motif de la demande", callbackChannel: "Comment ?",
    channelVideo: "En visio", channelPhone: "Par téléphone", callbackDay: "Jour", callbackFrom: "De", callbackTo: "À",
    callbackSubmit: "Demander un rappel", callbackSent: "Votre demande de rappel est envoyée.",
    yourCallbacks: "Vos demandes de rappel", noCallbacks: "Aucune demande en cours.", cancel: "Annuler",
    callbackQueue: "Demandes de rappel", emptyQueue: "Aucune demande en attente.", claim: "Je m'en occupe",
    claimLabel: (/** @type {string} */ name) => `Prendre en charge la demande de ${name}`,
    claimedBy: (/** @type {string} */ who) => `Pris en charge par ${who}`, late: "En retard",
    age: (/** @type {string} */ ago) => `demandé ${ago}`, due: (/** @type {string} */ when) => `à rappeler ${when}`,
    alreadyClaimed: "Un collègue a déjà pris cette demande.", callbackClaimed: "Demande prise en charge.",
    status_open: "en attente", status_claimed: "prise en charge", status_done: "traitée",
    status_no_answer: "sans réponse", status_cancelled: "annulée",
    // appointments
    appointments: "Rendez-vous", noAppointments: "Aucun rendez-vous prévu.",
    appointmentAt: (/** @type {string} */ when, /** @type {number} */ minutes) => `${when} (${minutes} min)`,
    joinAppointment: "Rejoindre", schedule: "Planifier un rendez-vous", scheduleSubmit: "Planifier",
    duration: "Durée (minutes)", scheduled: "Rendez-vous planifié.",
    notice_appointment_scheduled: (/** @type {string} */ when, /** @type {number} */ min) =>
      `Entretien vidéo prévu le ${when} (${min} min).`,
    notice_appointment_cancelled: (/** @type {string} */ when) => `Entretien du ${when} annulé.`,
    notice_appointment_missed: (/** @type {string} */ when) => `Entretien du ${when} manqué.`,
    message_erased: "Message effacé à la demande de son auteur",
    // pre-call check
    precall: "Tester mon matériel", precallIntro: "Vérifiez votre caméra, votre micro et votre connexion avant l'entretien.",
    verdict: "Test matériel", "verdict_ready": "prêt", "verdict_ready-with-warnings": "prêt, avec réserves",
    "verdict_not-ready": "pas prêt", verdictNone: "pas de test",
    verdictWhen: (/** @type {string} */ verdict, /** @type {string} */ ago) => `${verdict} (${ago})`,
    verdictOf: (/** @type {string} */ name, /** @type {string} */ verdict) => `Test matériel de ${name} : ${verdict}`,
    precallTitle: "Test de votre matériel", precallStart: "Lancer le test", precallAgain: "Refaire le test",
    precallProgress: "Avancement du test", precallMicLevel: "Niveau du micro",
    precallSpeak: "Pendant le test, dites quelques mots pour que nous entendions votre micro.",
    precallStep_browser: "Vérification du navigateur…", precallStep_devices: "Accès à la caméra et au micro…",
    precallStep_microphone: "Mesure de l'image et du son : dites quelques mots…",
    precallStep_network: "Test de la connexion avec le serveur…", precallStep_result: "Analyse des résultats…",
    precallStep_done: "Test terminé.",
    precallFailed: (/** @type {string} */ why) => `Le test n'a pas pu aller au bout : ${why}. Vous pouvez le refaire.`,
    "precallHeadline_ready": "Tout est prêt pour l'entretien vidéo.",
    "precallHeadline_ready-with-warnings": "L'entretien vidéo est possible, mais quelques points sont à améliorer.",
    "precallHeadline_not-ready": "L'entretien vidéo risque de ne pas fonctionner.",
    precallAdvisorTold: "Votre conseiller voit le résultat de ce test.",
    severity_blocking: "Bloquant", severity_warning: "À surveiller", severity_info: "Pour information",
    precallFigures: "Mesures", precallFindings: "Ce que le test a trouvé",
    precallFigureCamera: (/** @type {number} */ w, /** @type {number} */ h, /** @type {string} */ fps) =>
      `Image : ${w} × ${h}, ${fps} images par seconde`,
    precallFigureMicrophone: (/** @type {number} */ pct) => `Micro : niveau maximal ${pct} %`,
    precallFigureNetwork: (/** @type {string} */ rtt, /** @type {string} */ jitter, /** @type {string} */ loss) =>
      `Connexion : temps de réponse ${rtt} ms (à ${jitter} ms près), pertes ${loss} %`,
    precallFigureBitrate: (/** @type {string} */ up, /** @type {string} */ down) =>
      `Débit : ${up} kbit/s envoyés, ${down} kbit/s reçus`,
    precallFigureTransport: (/** @type {string} */ how) => `Chemin : ${how}`,
    precallFigureNoNetwork: "Connexion : le serveur n'a pas pu être joint en vidéo",
    precallFigureVoice: (/** @type {string} */ quality) => `Qualité du son attendue : ${quality}`,
    precallFigureVideo: (/** @type {string} */ video) => `Vidéo possible : ${video}`,
    transport_udp: "direct (UDP)", "transport_turn-udp": "par le relais (UDP)", "transport_turn-tcp": "par le relais (TCP)",
    "transport_turn-tls": "par le relais (TLS)", transport_none: "aucun",
    video_720p: "haute définition (720p)", video_480p: "définition standard (480p)", video_240p: "basse définition (240p)",
    "video_audio-only": "audio seulement", video_none: "aucune",
    precallFallbacks: "Autres solutions",
    precallFallbackIntro: "Si le problème persiste, l'entretien peut se faire sans vidéo, ou votre conseiller peut vous rappeler.",
    precallAudioOnly: "Faire l'entretien en audio seulement",
    precallAudioOnlyHow: "Au moment de l'entretien, choisissez « Rejoindre en audio seulement » : votre caméra reste éteinte et seul le son passe, ce qui demande beaucoup moins de débit.",
    precallOpenSpace: "Aller à mon espace", precallCallbackReason: "Le test matériel a échoué : merci de me rappeler.",
    // The pre-call check's mode: what the interview can be from there (docs/precall-verdict.md).
    predictedMode: "Entretien possible", mode_video: "en vidéo", mode_audio: "avec le son seulement",
    mode_none: "par téléphone seulement",
    modeVideoTier: (/** @type {string} */ tier) => `en vidéo (${tier})`,
    verdictModeOf: (/** @type {string} */ name, /** @type {string} */ verdict, /** @type {string} */ mode) =>
      `Test matériel de ${name} : ${verdict}, entretien possible ${mode}`,
    precallModeTitle: "Votre entretien",
    precallFigureCapacity: (/** @type {string} */ up, /** @type {string} */ down) =>
      `Débit que votre connexion fait passer : ${up} kbit/s en envoi, ${down} kbit/s en réception`,
    precallFigureLossDirections: (/** @type {string} */ up, /** @type {string} */ down) =>
      `Paquets perdus : ${up} % en envoi, ${down} % en réception`,
    // errors: what each documented error code means (./errors.js), then checks made before sending
    error_malformed_frame: "Cette page n'est plus à jour : rechargez-la.",
    error_unknown_type: "Cette page n'est plus à jour : rechargez-la.",
    error_invalid_message: "Une information saisie n'est pas acceptée : vérifiez le formulaire.",
    error_message_too_large: "Votre message est trop long : raccourcissez-le.",
    error_unauthorized: "Votre session a expiré : reconnectez-vous.",
    error_forbidden: "Cette action ne vous est pas permise.",
    error_not_joined: "La conversation n'est pas encore ouverte : réessayez dans un instant.",
    error_room_not_found: "Cette conversation n'existe pas.",
    error_conflict: "Ce n'est plus possible : la situation a changé entre-temps. Rechargez la page.",
    error_legal_hold: "Ce dossier fait l'objet d'une conservation légale : ses données ne peuvent pas être effacées pour l'instant.",
    error_rate_limited: "Trop d'envois rapprochés : patientez quelques secondes.",
    error_room_full: "Cette conversation est complète.",
    error_too_many_connections: "Vous êtes connecté dans trop d'onglets : fermez-en un.",
    error_unavailable: "Le service est momentanément indisponible : réessayez dans un instant.",
    error_internal: "Le service a rencontré un problème : réessayez plus tard.",
    error_not_found: "Introuvable : cet élément n'existe plus ou ne vous concerne pas.",
    error_portfolio_full: "Ce portefeuille est complet.",
    error_already_claimed: "Un collègue a déjà pris cette demande.",
    error_timeout: "Le service n'a pas répondu à temps : vérifiez votre connexion et réessayez.",
    error_connection_lost: "La connexion a été perdue avant la réponse : réessayez quand elle sera revenue.",
    error_closed: "La session est terminée : rechargez la page.",
    error_unknown: "Une erreur inattendue est survenue : réessayez.",
    error_callback_request_conflict: "Vous avez déjà le nombre maximal de demandes de rappel en cours : annulez-en une ou attendez qu'elle soit traitée.",
    error_callback_request_forbidden: "Le suivi en ligne est en pause : vous ne pouvez pas demander de rappel pour le moment.",
    error_callback_request_invalid_message: "Ce créneau ou ce motif n'est pas accepté : choisissez un jour plus proche et un motif simple, sur une ligne.",
    error_callback_cancel_conflict: "Cette demande est déjà traitée ou annulée.",
    error_callback_claim_conflict: "Cette demande n'est plus en attente.",
    error_appointment_create_invalid_message: "Vérifiez la date (à venir) et la durée du rendez-vous.",
    error_appointment_create_forbidden: "Vous ne pouvez pas planifier de rendez-vous pour cette personne : son suivi en ligne est en pause ou vous ne la suivez plus.",
    error_appointment_join_forbidden: "La salle de l'entretien ouvre 15 minutes avant le début et ferme à la fin.",
    error_appointment_join_conflict: "Ce rendez-vous n'a plus lieu (annulé ou terminé).",
    error_send_forbidden: "Vous ne pouvez pas écrire dans cette conversation pour le moment (suivi en ligne en pause ou terminé).",
    error_demo_token_forbidden: "Le mode démonstration n'est pas activé sur ce serveur.",
    notSentBecause: (/** @type {string} */ why) => `Non envoyé. ${why}`,
    checkReason: "Indiquez le motif de votre demande.",
    checkDay: "Choisissez le jour et les heures du créneau.",
    checkWindowOrder: "L'heure de fin doit être après l'heure de début.",
    checkWindowPast: "Ce créneau est déjà passé : choisissez un moment à venir.",
    checkStart: "Indiquez la date et l'heure du rendez-vous.",
    checkStartPast: "Le rendez-vous doit être dans le futur.",
    checkDuration: (/** @type {number} */ min, /** @type {number} */ max) => `La durée doit être un nombre de minutes de ${min} à ${max}.`,
    // advisor console
    console: "Console conseiller", portfolio: "Portefeuille", noPortfolio: "Aucun demandeur d'emploi suivi.",
    labelled: (/** @type {string} */ label, /** @type {string} */ value) => `${label} : ${value}`,
    lastContact: "Dernier contact", never: "jamais", chooseJobseeker: "Choisissez un demandeur d'emploi dans le portefeuille.",
    portfolioRow: (/** @type {string} */ name, /** @type {string} */ presence, /** @type {number} */ unread) =>
      `${name}, ${presence}${unread ? `, ${unread} non lu${unread > 1 ? "s" : ""}` : ""}`,
    myAvailability: "Ma disponibilité",
    // time
    justNow: "à l'instant",
    minutesAgo: (/** @type {number} */ n) => `il y a ${n} min`, hoursAgo: (/** @type {number} */ n) => `il y a ${n} h`,
    daysAgo: (/** @type {number} */ n) => `il y a ${n} j`,
    // demo sign-in
    demoTitle: "Essayer le suivi en ligne", demoIntro:
      "Choisissez qui vous êtes. Ouvrez une deuxième fenêtre pour jouer l'autre rôle : conseillère d'un côté, demandeur d'emploi de l'autre.",
    demoAdvisor: "Conseillère", demoJobseeker: "Demandeur d'emploi", signInAs: (/** @type {string} */ name) => `Entrer en tant que ${name}`,
    demoUnavailable: "Le mode démonstration n'est pas activé sur ce serveur (rtserver serve --demo).",
    homeIntro: "Ce service relie les demandeurs d'emploi et leurs conseillers : conversation, rappels, rendez-vous et entretiens vidéo.",
    homeDemo: "Essayer la démonstration", homePages: "Les pages",
    homeJobseeker: "Espace du demandeur d'emploi", homeAdvisor: "Console du conseiller", homeCheck: "Test du matériel",
    homeDocs: "Documentation",
    homeDocsWhere: "Le guide est dans le code source du service : README.md, puis docs/web-client.md pour les pages et docs/js-sdk.md pour les intégrer à un portail.",
    jobseekerPage: "Mon espace", welcome: (/** @type {string} */ name) => `Bonjour ${name}`,
    yourAdvisor: "Votre conseiller", noAdvisor: "Aucun conseiller ne vous suit en ligne pour le moment.",
    // advisor's workspace: search, filters, signals, follow-up actions, several recipients
    searchPortfolio: "Chercher un demandeur d'emploi", filter: "Afficher", sortBy: "Trier par",
    filter_all: "Tous", filter_unread: "Messages non lus", filter_callbacks: "Demandes de rappel",
    filter_appointments: "Rendez-vous dans les 24 h", filter_notready: "Test matériel non prêt", filter_online: "En ligne",
    sort_attention: "À traiter d'abord", sort_name: "Nom", sort_recent: "Dernier contact",
    shownOf: (/** @type {number} */ n, /** @type {number} */ total) => `${n} sur ${total} affiché${n > 1 ? "s" : ""}`,
    noMatch: "Personne ne correspond.",
    waitingChip: "Vous attend en entretien", lateCallbackChip: "Rappel en retard", callbackChip: "Rappel demandé",
    appointmentChip: (/** @type {string} */ time) => `Rendez-vous ${time}`,
    views: "Vues", todo: "À traiter", consoleName: "Console conseiller",
    soundSignal: "Son", allowNotifications: "Activer les notifications", openConversation: "Ouvrir",
    signalMessage: (/** @type {string} */ name) => `Nouveau message de ${name}`,
    signalCallback: (/** @type {string} */ name) => `${name} demande à être rappelé`,
    signalWaiting: (/** @type {string} */ name) => `${name} vous attend dans l'entretien vidéo`,
    shortcuts: "Raccourcis clavier", shortcutSearch: "chercher dans le portefeuille",
    shortcutMove: "demandeur suivant, précédent", shortcutOpen: "ouvrir la conversation",
    shortcutBack: "de la recherche à la liste", shortcutQueue: "aller aux demandes de rappel",
    keyEnter: "Entrée", keyEscape: "Échap",
    phoneNotStored: "Le service n'enregistre pas de numéro de téléphone : appelez le numéro du dossier de l'agence.",
    outcomeNote: "Note (facultative)", outcomeDone: "Fait", outcomeNoAnswer: "Pas de réponse", outcomeReschedule: "Reporter",
    doneLabel: (/** @type {string} */ name) => `Rappel de ${name} fait`,
    no_answerLabel: (/** @type {string} */ name) => `${name} n'a pas répondu`,
    rescheduleLabel: (/** @type {string} */ name) => `Reporter le rappel de ${name}`,
    rescheduleSubmit: "Reporter à ce créneau",
    outcomeRecorded_done: "Rappel enregistré comme fait.", outcomeRecorded_no_answer: "Rappel enregistré : pas de réponse.",
    outcomeRecorded_rescheduled: "Rappel reporté : la demande revient dans la file avec le nouveau créneau.",
    error_callback_outcome_conflict: "Cette demande n'est plus à traiter (annulée ou déjà close).",
    error_appointment_cancel_conflict: "Ce rendez-vous n'a plus lieu (annulé ou terminé).",
    error_appointment_move_invalid_message: "Vérifiez la nouvelle date (à venir) et la durée : le rendez-vous n'a pas été déplacé.",
    todayAppointments: "Rendez-vous du jour", noAppointmentsToday: "Aucun autre rendez-vous aujourd'hui.",
    joinWith: (/** @type {string} */ name) => `Rejoindre l'entretien avec ${name}`,
    addToCalendar: "Ajouter à l'agenda", moveAppointment: "Déplacer", cancelAppointment: "Annuler le rendez-vous",
    icsAppointmentLabel: (/** @type {string} */ when) => `Ajouter à l'agenda : ${when}`,
    moveAppointmentLabel: (/** @type {string} */ when) => `Déplacer le rendez-vous : ${when}`,
    cancelAppointmentLabel: (/** @type {string} */ when) => `Annuler le rendez-vous : ${when}`,
    appointmentCancelled: "Rendez-vous annulé.", moved: "Rendez-vous déplacé.", moveStop: "Ne pas déplacer",
    moveTitle: (/** @type {string} */ name, /** @type {string} */ when) => `Déplacer le rendez-vous avec ${name} (${when})`,
    moveReason: (/** @type {string} */ when) => `Je souhaite déplacer le rendez-vous du ${when}.`,
    moveHow: "Choisissez quand vous êtes disponible puis envoyez : votre conseiller vous proposera une autre date, et le rendez-vous actuel sera annulé.",
    moveRequested: "Demande envoyée : le rendez-vous est annulé, votre conseiller vous proposera une autre date.",
    icsSummary: (/** @type {string} */ name) => `Entretien vidéo avec ${name}`,
    icsSummaryAdvisor: "Entretien vidéo avec votre conseiller",
    icsDescription: (/** @type {string} */ url) => `Rejoindre depuis ${url}`,
    bulkOpen: "Écrire à plusieurs…", bulkTitle: "Un message à plusieurs demandeurs d'emploi",
    bulkRecipients: "Destinataires (la liste affichée)", bulkAll: "Tous", close: "Fermer",
    bulkSend: "Envoyer", bulkSendTo: (/** @type {number} */ n) => `Envoyer à ${n} personne${n > 1 ? "s" : ""}`,
    bulkEmpty: "Écrivez le message à envoyer.",
    bulkProgress: (/** @type {number} */ done, /** @type {number} */ total) => `Envoi : ${done} sur ${total}…`,
    bulkDone: (/** @type {number} */ n) => `Message envoyé dans ${n} conversation${n > 1 ? "s" : ""}.`,
    bulkFailed: (/** @type {number} */ sent, /** @type {number} */ failed) =>
      `Envoyé dans ${sent} conversation${sent > 1 ? "s" : ""} ; ${failed} envoi${failed > 1 ? "s" : ""} refusé${failed > 1 ? "s" : ""} (suivi en pause ou connexion perdue).`,
  },
  en: {
    appName: "Online follow-up", switchLang: "Français", switchLangLabel: "Afficher cette page en français",
    signOut: "Switch user", loading: "Loading…",
    connecting: "Connecting to the service…", connected: "Connected",
    connectionLost: "Connection lost. Reconnecting… Your messages will be sent as soon as the connection is back.",
    connectionBack: "Connection restored: you are up to date.",
    connectionClosed: "The session has ended. Reload the page to connect again.",
    noSession: "You are not signed in.", signInLink: "Sign in",
    failed: (/** @type {string} */ why) => `Something went wrong: ${why}`,
    refusedOrigin: (/** @type {string} */ param) => `Sign-in refused: this link (${param}) names a site this service does not allow.`,
    online: "Online", away: "Away", offline: "Offline",
    available: "Available", busy: "Busy", unavailable: "Unavailable",
    presenceOf: (/** @type {string} */ name, /** @type {string} */ state) => `${name}: ${state}`,
    conversation: "Conversation", conversationWith: (/** @type {string} */ name) => `Conversation with ${name}`,
    messages: "Messages", newMessages: "New messages", olderMessages: "Show earlier messages",
    noMessages: "No messages yet.", yourMessage: "Your message", send: "Send",
    sendHint: "Enter to send, Shift+Enter for a new line.",
    charCount: (/** @type {number} */ n, /** @type {number} */ max) =>
      `${n.toLocaleString("en")} of at most ${max.toLocaleString("en")} characters`,
    tooLong: (/** @type {number} */ over, /** @type {number} */ max) =>
      `Message too long by ${over.toLocaleString("en")} character${over > 1 ? "s" : ""} (${max.toLocaleString("en")} at most): shorten it to send it.`,
    you: "You", system: "Follow-up",
    sending: "Sending", delivered: "Sent", read: "Read", notSent: "Not sent",
    typing: (/** @type {string} */ name) => `${name} is typing…`,
    newMessageFrom: (/** @type {string} */ name, /** @type {string} */ text) => `New message from ${name}: ${text}`,
    unreadCount: (/** @type {number} */ n) => n === 1 ? "1 unread message" : `${n} unread messages`,
    interview: "Video interview", joinInterview: "Join the video interview", startInterview: "Start the video interview",
    joinAudio: "Join with audio only",
    waitingForYou: "I am in the video interview, waiting for you.",
    interviewInvite: "I have started the video interview: join me with the “Join the video interview” button.",
    yourVideo: "Your picture", videoOf: (/** @type {string} */ name) => `Video of ${name}`,
    microphone: "Microphone", camera: "Camera", audioOnly: "Audio only", leave: "Leave",
    muteMicrophone: "Mute microphone", unmuteMicrophone: "Unmute microphone",
    cameraOffLabel: "Turn camera off", cameraOnLabel: "Turn camera on",
    audioOnlyOn: "Switch to audio only (weak connection)", audioOnlyOff: "Receive video again",
    leaveLabel: "Leave the interview", soundOn: "Turn sound on",
    waiting: "Waiting for the other participant…", inCall: "Interview in progress", left: "You left the interview.",
    joinedBy: (/** @type {string} */ name) => `${name} joined the interview`,
    leftBy: (/** @type {string} */ name) => `${name} left the interview`,
    droppedBy: (/** @type {string} */ name) => `${name} lost their connection`,
    resumedBy: (/** @type {string} */ name) => `${name} is back`,
    cameraDenied: "Camera or microphone unavailable: check the browser's permissions.",
    quality: "Connection quality", qualityOf: (/** @type {string} */ name) => `${name}'s connection`,
    qualityLine: (/** @type {string} */ label, /** @type {string} */ word) => `${label}: ${word}`,
    qualityGood: "good", qualityFair: "fair", qualityPoor: "poor", qualityUnknown: "measuring",
    qualityDetail: (/** @type {number} */ loss, /** @type {number} */ rtt) => `loss ${loss}%, delay ${rtt} ms`,
    // chat: messages waiting for the connection, the phone's composer
    waitingToSend: "Waiting for the connection: will be sent when it is back",
    retrySend: "Try again", cancelSend: "Cancel sending",
    sendHintTouch: "Enter for a new line, the Send button to send.",
    // the check page: the still picture, the way back, the sound's quality in words
    precallStill: "Your picture during the test", precallBack: "Back to my page",
    voice_excellent: "excellent", voice_good: "good", voice_fair: "fair, sometimes less clear",
    voice_poor: "poor, words may get lost", voice_bad: "bad, hard to understand",
    // interview: both directions, and video paused by the node (one block)
    link_from_me_bad_their_link: (/** @type {string} */ n) => `${n} receives your video badly: the connection on their side is weak`,
    link_from_me_bad_your_upload: (/** @type {string} */ n) => `${n} cannot see you well: your upload is weak`,
    link_to_me_bad_their_upload: (/** @type {string} */ n) => `You see or hear ${n} badly: their upload is weak`,
    link_to_me_bad_your_link: (/** @type {string} */ n) => `You see or hear ${n} badly: your connection is weak`,
    link_from_me_paused_your_upload: (/** @type {string} */ n) => `${n} no longer sees you but still hears you: your connection is too weak to send video`,
    link_from_me_paused_their_link: (/** @type {string} */ n) => `${n}'s connection is weak: your video no longer reaches them, your voice does`,
    link_to_me_paused_their_upload: (/** @type {string} */ n) => `${n}'s connection is weak: their video is paused, the sound goes on`,
    link_to_me_paused_your_link: (/** @type {string} */ n) => `Your connection is weak: ${n}'s video is paused, the sound goes on`,
    videoPausedYouSend: (/** @type {string} */ n) => `Your connection is too weak for video: the interview continues with sound only. ${n} hears you but no longer sees you. Video will come back by itself when the connection improves.`,
    videoPausedYouReceive: (/** @type {string} */ n) => `Your connection is too weak for video: the interview continues with sound only. You hear ${n} but no longer see them. Video will come back by itself when the connection improves.`,
    videoPausedTheySend: (/** @type {string} */ n) => `${n}'s connection is too weak for video: their video is paused and the interview continues with sound only. It will come back by itself when their connection improves.`,
    videoPausedTheyReceive: (/** @type {string} */ n) => `${n}'s connection is too weak for video: your video no longer reaches them, your voice does. It will come back by itself when their connection improves.`,
    videoBackYouSend: (/** @type {string} */ n) => `Your connection is better: ${n} sees you again.`,
    videoBackYouReceive: (/** @type {string} */ n) => `Your connection is better: you see ${n} again.`,
    videoBackTheySend: (/** @type {string} */ n) => `${n}'s connection is better: their video is back.`,
    videoBackTheyReceive: (/** @type {string} */ n) => `${n}'s connection is better: your video reaches them again.`,
    tileVideoPaused: "Sound only: the connection is too weak for video. It will come back by itself.",
    tileAudioOnly: "Sound only (audio only chosen)",
    tileYouPaused: "Your video is paused: you are heard, not seen.",
    callMeBack: "Call me back", callbackReason: "What is it about?", callbackChannel: "How?",
    channelVideo: "Video call", channelPhone: "Phone", callbackDay: "Day", callbackFrom: "From", callbackTo: "To",
    callbackSubmit: "Ask for a call back", callbackSent: "Your call-back request was sent.",
    yourCallbacks: "Your call-back requests", noCallbacks: "No pending request.", cancel: "Cancel",
    callbackQueue: "Call-back requests", emptyQueue: "No request waiting.", claim: "I'll take it",
    claimLabel: (/** @type {string} */ name) => `Take ${name}'s request`,
    claimedBy: (/** @type {string} */ who) => `Taken by ${who}`, late: "Late",
    age: (/** @type {string} */ ago) => `asked ${ago}`, due: (/** @type {string} */ when) => `call ${when}`,
    alreadyClaimed: "A colleague already took this request.", callbackClaimed: "Request taken.",
    status_open: "waiting", status_claimed: "taken", status_done: "done",
    status_no_answer: "no answer", status_cancelled: "cancelled",
    appointments: "Appointments", noAppointments: "No appointment planned.",
    appointmentAt: (/** @type {string} */ when, /** @type {number} */ minutes) => `${when} (${minutes} min)`,
    joinAppointment: "Join", schedule: "Schedule an appointment", scheduleSubmit: "Schedule",
    duration: "Duration (minutes)", scheduled: "Appointment scheduled.",
    notice_appointment_scheduled: (/** @type {string} */ when, /** @type {number} */ min) =>
      `Video interview planned on ${when} (${min} min).`,
    notice_appointment_cancelled: (/** @type {string} */ when) => `The interview of ${when} is cancelled.`,
    notice_appointment_missed: (/** @type {string} */ when) => `The interview of ${when} was missed.`,
    message_erased: "Message erased at its author's request",
    precall: "Test my equipment", precallIntro: "Check your camera, microphone and connection before the interview.",
    verdict: "Equipment test", "verdict_ready": "ready", "verdict_ready-with-warnings": "ready, with warnings",
    "verdict_not-ready": "not ready", verdictNone: "not tested",
    verdictWhen: (/** @type {string} */ verdict, /** @type {string} */ ago) => `${verdict} (${ago})`,
    verdictOf: (/** @type {string} */ name, /** @type {string} */ verdict) => `${name}'s equipment test: ${verdict}`,
    precallTitle: "Test your equipment", precallStart: "Start the test", precallAgain: "Run the test again",
    precallProgress: "Test progress", precallMicLevel: "Microphone level",
    precallSpeak: "During the test, say a few words so that we can hear your microphone.",
    precallStep_browser: "Checking the browser…", precallStep_devices: "Opening the camera and microphone…",
    precallStep_microphone: "Measuring picture and sound: say a few words…",
    precallStep_network: "Testing the connection with the server…", precallStep_result: "Analysing the results…",
    precallStep_done: "Test finished.",
    precallFailed: (/** @type {string} */ why) => `The test could not finish: ${why}. You can run it again.`,
    "precallHeadline_ready": "Everything is ready for the video interview.",
    "precallHeadline_ready-with-warnings": "The video interview can go ahead, but a few things could be better.",
    "precallHeadline_not-ready": "The video interview is likely not to work.",
    precallAdvisorTold: "Your advisor sees the result of this test.",
    severity_blocking: "Blocking", severity_warning: "Warning", severity_info: "For information",
    precallFigures: "Measurements", precallFindings: "What the test found",
    precallFigureCamera: (/** @type {number} */ w, /** @type {number} */ h, /** @type {string} */ fps) =>
      `Picture: ${w} × ${h}, ${fps} frames per second`,
    precallFigureMicrophone: (/** @type {number} */ pct) => `Microphone: peak level ${pct}%`,
    precallFigureNetwork: (/** @type {string} */ rtt, /** @type {string} */ jitter, /** @type {string} */ loss) =>
      `Connection: response time ${rtt} ms (give or take ${jitter} ms), loss ${loss}%`,
    precallFigureBitrate: (/** @type {string} */ up, /** @type {string} */ down) =>
      `Bitrate: ${up} kbit/s sent, ${down} kbit/s received`,
    precallFigureTransport: (/** @type {string} */ how) => `Path: ${how}`,
    precallFigureNoNetwork: "Connection: the server could not be reached for video",
    precallFigureVoice: (/** @type {string} */ quality) => `Expected sound quality: ${quality}`,
    precallFigureVideo: (/** @type {string} */ video) => `Video possible: ${video}`,
    transport_udp: "direct (UDP)", "transport_turn-udp": "through the relay (UDP)", "transport_turn-tcp": "through the relay (TCP)",
    "transport_turn-tls": "through the relay (TLS)", transport_none: "none",
    video_720p: "high definition (720p)", video_480p: "standard definition (480p)", video_240p: "low definition (240p)",
    "video_audio-only": "audio only", video_none: "none",
    precallFallbacks: "Other ways",
    precallFallbackIntro: "If the problem remains, the interview can take place without video, or your advisor can call you back.",
    precallAudioOnly: "Hold the interview with audio only",
    precallAudioOnlyHow: "When the interview starts, choose “Join with audio only”: your camera stays off and only sound goes through, which needs much less bandwidth.",
    precallOpenSpace: "Go to my space", precallCallbackReason: "The equipment test failed: please call me back.",
    // The pre-call check's mode: what the interview can be from there (docs/precall-verdict.md).
    predictedMode: "Interview possible", mode_video: "with video", mode_audio: "with sound only",
    mode_none: "by phone only",
    modeVideoTier: (/** @type {string} */ tier) => `with video (${tier})`,
    verdictModeOf: (/** @type {string} */ name, /** @type {string} */ verdict, /** @type {string} */ mode) =>
      `${name}'s equipment test: ${verdict}; interview possible ${mode}`,
    precallModeTitle: "Your interview",
    precallFigureCapacity: (/** @type {string} */ up, /** @type {string} */ down) =>
      `What your connection carries: ${up} kbit/s up, ${down} kbit/s down`,
    precallFigureLossDirections: (/** @type {string} */ up, /** @type {string} */ down) =>
      `Packets lost: ${up}% up, ${down}% down`,
    error_malformed_frame: "This page is out of date: reload it.",
    error_unknown_type: "This page is out of date: reload it.",
    error_invalid_message: "Something you entered is not accepted: check the form.",
    error_message_too_large: "Your message is too long: shorten it.",
    error_unauthorized: "Your session has expired: sign in again.",
    error_forbidden: "You are not allowed to do this.",
    error_not_joined: "The conversation is not open yet: try again in a moment.",
    error_room_not_found: "This conversation does not exist.",
    error_conflict: "This is no longer possible: things changed in the meantime. Reload the page.",
    error_legal_hold: "This file is under a legal hold: its data cannot be erased for now.",
    error_rate_limited: "Too many sends in a row: wait a few seconds.",
    error_room_full: "This conversation is full.",
    error_too_many_connections: "You are signed in in too many tabs: close one.",
    error_unavailable: "The service is unavailable for a moment: try again shortly.",
    error_internal: "The service ran into a problem: try again later.",
    error_not_found: "Not found: it no longer exists or is not yours.",
    error_portfolio_full: "This portfolio is full.",
    error_already_claimed: "A colleague already took this request.",
    error_timeout: "The service did not answer in time: check your connection and try again.",
    error_connection_lost: "The connection was lost before the answer: try again once it is back.",
    error_closed: "The session is over: reload the page.",
    error_unknown: "Something unexpected went wrong: try again.",
    error_callback_request_conflict: "You already have the most call-back requests open at once: cancel one or wait until one is handled.",
    error_callback_request_forbidden: "The online follow-up is paused: you cannot ask for a call back for now.",
    error_callback_request_invalid_message: "This time slot or reason is not accepted: pick a nearer day and a plain reason on one line.",
    error_callback_cancel_conflict: "This request is already handled or cancelled.",
    error_callback_claim_conflict: "This request is no longer waiting.",
    error_appointment_create_invalid_message: "Check the appointment's date (in the future) and duration.",
    error_appointment_create_forbidden: "You cannot schedule an appointment for this person: their online follow-up is paused or you no longer follow them.",
    error_appointment_join_forbidden: "The interview room opens 15 minutes before the start and closes at the end.",
    error_appointment_join_conflict: "This appointment no longer takes place (cancelled or over).",
    error_send_forbidden: "You cannot write in this conversation for now (online follow-up paused or ended).",
    error_demo_token_forbidden: "Demo mode is not enabled on this server.",
    notSentBecause: (/** @type {string} */ why) => `Not sent. ${why}`,
    checkReason: "Say what your request is about.",
    checkDay: "Choose the day and the hours of the time slot.",
    checkWindowOrder: "The end time must come after the start time.",
    checkWindowPast: "This time slot is already over: choose a time to come.",
    checkStart: "Give the appointment's date and time.",
    checkStartPast: "The appointment must be in the future.",
    checkDuration: (/** @type {number} */ min, /** @type {number} */ max) => `The duration must be a number of minutes from ${min} to ${max}.`,
    console: "Advisor console", portfolio: "Portfolio", noPortfolio: "No jobseeker followed.",
    labelled: (/** @type {string} */ label, /** @type {string} */ value) => `${label}: ${value}`,
    lastContact: "Last contact", never: "never", chooseJobseeker: "Choose a jobseeker in the portfolio.",
    portfolioRow: (/** @type {string} */ name, /** @type {string} */ presence, /** @type {number} */ unread) =>
      `${name}, ${presence}${unread ? `, ${unread} unread` : ""}`,
    myAvailability: "My availability",
    justNow: "just now",
    minutesAgo: (/** @type {number} */ n) => `${n} min ago`, hoursAgo: (/** @type {number} */ n) => `${n} h ago`,
    daysAgo: (/** @type {number} */ n) => `${n} d ago`,
    demoTitle: "Try the online follow-up", demoIntro:
      "Pick who you are. Open a second window to play the other part: the advisor on one side, a jobseeker on the other.",
    demoAdvisor: "Advisor", demoJobseeker: "Jobseeker", signInAs: (/** @type {string} */ name) => `Enter as ${name}`,
    demoUnavailable: "Demo mode is not enabled on this server (rtserver serve --demo).",
    homeIntro: "This service connects jobseekers with their advisors: conversation, call-backs, appointments and video interviews.",
    homeDemo: "Try the demo", homePages: "The pages",
    homeJobseeker: "Jobseeker's space", homeAdvisor: "Advisor's console", homeCheck: "Equipment test",
    homeDocs: "Documentation",
    homeDocsWhere: "The guide is in the service's source code: README.md, then docs/web-client.md for the pages and docs/js-sdk.md to put them in a portal.",
    jobseekerPage: "My space", welcome: (/** @type {string} */ name) => `Hello ${name}`,
    yourAdvisor: "Your advisor", noAdvisor: "No advisor follows you online yet.",
    // advisor's workspace: search, filters, signals, follow-up actions, several recipients
    searchPortfolio: "Search for a jobseeker", filter: "Show", sortBy: "Sort by",
    filter_all: "Everyone", filter_unread: "Unread messages", filter_callbacks: "Call-back requests",
    filter_appointments: "Appointments within 24 h", filter_notready: "Equipment test not ready", filter_online: "Online",
    sort_attention: "Needs attention first", sort_name: "Name", sort_recent: "Last contact",
    shownOf: (/** @type {number} */ n, /** @type {number} */ total) => `${n} of ${total} shown`,
    noMatch: "Nobody matches.",
    waitingChip: "Waiting in the interview", lateCallbackChip: "Late call-back", callbackChip: "Call-back requested",
    appointmentChip: (/** @type {string} */ time) => `Appointment ${time}`,
    views: "Views", todo: "To do", consoleName: "Advisor console",
    soundSignal: "Sound", allowNotifications: "Turn on notifications", openConversation: "Open",
    signalMessage: (/** @type {string} */ name) => `New message from ${name}`,
    signalCallback: (/** @type {string} */ name) => `${name} asks to be called back`,
    signalWaiting: (/** @type {string} */ name) => `${name} is waiting for you in the video interview`,
    shortcuts: "Keyboard shortcuts", shortcutSearch: "search the portfolio",
    shortcutMove: "next, previous jobseeker", shortcutOpen: "open the conversation",
    shortcutBack: "from the search back to the list", shortcutQueue: "go to the call-back requests",
    keyEnter: "Enter", keyEscape: "Escape",
    phoneNotStored: "The service stores no phone number: call the number in the agency's file.",
    outcomeNote: "Note (optional)", outcomeDone: "Done", outcomeNoAnswer: "No answer", outcomeReschedule: "Reschedule",
    doneLabel: (/** @type {string} */ name) => `Call-back of ${name} done`,
    no_answerLabel: (/** @type {string} */ name) => `${name} did not answer`,
    rescheduleLabel: (/** @type {string} */ name) => `Reschedule the call-back of ${name}`,
    rescheduleSubmit: "Reschedule to this window",
    outcomeRecorded_done: "Call-back recorded as done.", outcomeRecorded_no_answer: "Call-back recorded: no answer.",
    outcomeRecorded_rescheduled: "Call-back rescheduled: the request is back in the queue with the new window.",
    error_callback_outcome_conflict: "This request is no longer pending (cancelled or already closed).",
    error_appointment_cancel_conflict: "This appointment no longer takes place (cancelled or over).",
    error_appointment_move_invalid_message: "Check the new date (in the future) and the duration: the appointment was not moved.",
    todayAppointments: "Today's appointments", noAppointmentsToday: "No more appointments today.",
    joinWith: (/** @type {string} */ name) => `Join the interview with ${name}`,
    addToCalendar: "Add to calendar", moveAppointment: "Move", cancelAppointment: "Cancel the appointment",
    icsAppointmentLabel: (/** @type {string} */ when) => `Add to calendar: ${when}`,
    moveAppointmentLabel: (/** @type {string} */ when) => `Move the appointment: ${when}`,
    cancelAppointmentLabel: (/** @type {string} */ when) => `Cancel the appointment: ${when}`,
    appointmentCancelled: "Appointment cancelled.", moved: "Appointment moved.", moveStop: "Do not move",
    moveTitle: (/** @type {string} */ name, /** @type {string} */ when) => `Move the appointment with ${name} (${when})`,
    moveReason: (/** @type {string} */ when) => `I would like to move the appointment of ${when}.`,
    moveHow: "Choose when you are available and send: your advisor will offer another date, and the current appointment will be cancelled.",
    moveRequested: "Request sent: the appointment is cancelled, your advisor will offer another date.",
    icsSummary: (/** @type {string} */ name) => `Video interview with ${name}`,
    icsSummaryAdvisor: "Video interview with your advisor",
    icsDescription: (/** @type {string} */ url) => `Join from ${url}`,
    bulkOpen: "Write to several…", bulkTitle: "One message to several jobseekers",
    bulkRecipients: "Recipients (the list shown)", bulkAll: "All", close: "Close",
    bulkSend: "Send", bulkSendTo: (/** @type {number} */ n) => `Send to ${n} ${n > 1 ? "people" : "person"}`,
    bulkEmpty: "Write the message to send.",
    bulkProgress: (/** @type {number} */ done, /** @type {number} */ total) => `Sending: ${done} of ${total}…`,
    bulkDone: (/** @type {number} */ n) => `Message sent in ${n} conversation${n > 1 ? "s" : ""}.`,
    bulkFailed: (/** @type {number} */ sent, /** @type {number} */ failed) =>
      `Sent in ${sent} conversation${sent > 1 ? "s" : ""}; ${failed} refused (follow-up paused or connection lost).`,
  },
};

// The call view, its ringing and the devices that could not start (static/app/interview-view.js,
// ringer.js), both languages in one block.
/** @typedef {string} Name */
Object.assign(STRINGS.fr, {
  callWith: (/** @type {Name} */ n) => `Entretien vidéo avec ${n}`, callDuration: "Durée de l'entretien",
  callRinging: (/** @type {Name} */ n) => `Appel de ${n} en cours… Sa page sonne.`,
  callWaitingFor: (/** @type {Name} */ n) => `En attente de ${n}…`,
  fullscreen: "Plein écran", showConversation: "Voir la conversation",
  callReconnectingYou: "Votre connexion est interrompue. Reconnexion en cours…",
  callReconnected: "Connexion rétablie.",
  callReconnectingThem: (/** @type {Name} */ n) => `La connexion de ${n} est interrompue. Reconnexion en cours…`,
  callDeclinedBy: (/** @type {Name} */ n) => `${n} a refusé l'appel.`,
  devicesRefusedBy_camera: (/** @type {Name} */ n) => `${n} n'a pas pu démarrer sa caméra.`,
  devicesRefusedBy_microphone: (/** @type {Name} */ n) => `${n} n'a pas pu démarrer son micro.`,
  devicesRefusedBy_both: (/** @type {Name} */ n) => `${n} n'a pu démarrer ni sa caméra ni son micro.`,
  devicesTitle_camera: "Impossible de démarrer votre caméra",
  devicesTitle_microphone: "Impossible de démarrer votre micro",
  devicesTitle_both: "Impossible de démarrer votre caméra et votre micro",
  devicesWhy_denied: "Le navigateur en a refusé l'accès. Cliquez sur l'icône du cadenas (ou de la caméra) à gauche de l'adresse de la page, choisissez « Autoriser », puis réessayez.",
  devicesWhy_missing: "Aucun appareil n'a été trouvé. Branchez une caméra ou un casque avec micro, puis réessayez.",
  devicesWhy_busy: "Une autre application l'utilise déjà. Fermez-la (visio, enregistreur), puis réessayez.",
  devicesWhy_failed: "Le navigateur n'a pas pu le démarrer. Réessayez, ou faites le test du matériel.",
  devicesRetry: "Réessayer",
  leaveConfirm: "Quitter l'entretien ?", leaveYes: "Oui, quitter", leaveNo: "Rester",
  micOff: "Micro coupé", cameraOff: "Caméra coupée", yourMicOff: "Votre micro est coupé", yourCameraOff: "Votre caméra est coupée",
  micOffBy: (/** @type {Name} */ n) => `${n} a coupé son micro`, micOnBy: (/** @type {Name} */ n) => `${n} a réactivé son micro`,
  cameraOffBy: (/** @type {Name} */ n) => `${n} a coupé sa caméra`, cameraOnBy: (/** @type {Name} */ n) => `${n} a réactivé sa caméra`,
  takenOver: "L'entretien continue dans un autre onglet",
  takenOverText: "Vous avez rejoint l'entretien depuis un autre onglet ou un autre appareil : il s'y poursuit.",
  takeBack: "Reprendre l'entretien ici",
  ringIncoming: (/** @type {Name} */ n) => `${n} vous appelle pour l'entretien vidéo`,
  ringHint: "Répondez avec la vidéo, en audio seulement, ou refusez.",
  ringAnswer: "Répondre", ringAnswerAudio: "Répondre en audio", ringDecline: "Refuser", ringSilence: "Couper la sonnerie",
  ringMissed: (/** @type {Name} */ n) => `Appel manqué de ${n}`,
  ringMissedHint: "Vous pouvez rejoindre l'entretien avec le bouton « Rejoindre l'entretien vidéo », ou écrire à votre conseiller.",
  ringDeclined: "Appel refusé. Votre conseiller en est informé.", close: "Fermer",
  devices: "Caméra et micro", deviceFailed: "Cet appareil n'a pas pu démarrer : le précédent reste utilisé.",
});
Object.assign(STRINGS.en, {
  callWith: (/** @type {Name} */ n) => `Video interview with ${n}`, callDuration: "Interview duration",
  callRinging: (/** @type {Name} */ n) => `Calling ${n}… Their page is ringing.`,
  callWaitingFor: (/** @type {Name} */ n) => `Waiting for ${n}…`,
  fullscreen: "Full screen", showConversation: "Show the conversation",
  callReconnectingYou: "Your connection is interrupted. Reconnecting…",
  callReconnected: "Connection restored.",
  callReconnectingThem: (/** @type {Name} */ n) => `${n}'s connection is interrupted. Reconnecting…`,
  callDeclinedBy: (/** @type {Name} */ n) => `${n} declined the call.`,
  devicesRefusedBy_camera: (/** @type {Name} */ n) => `${n} could not start their camera.`,
  devicesRefusedBy_microphone: (/** @type {Name} */ n) => `${n} could not start their microphone.`,
  devicesRefusedBy_both: (/** @type {Name} */ n) => `${n} could start neither their camera nor their microphone.`,
  devicesTitle_camera: "Your camera could not start",
  devicesTitle_microphone: "Your microphone could not start",
  devicesTitle_both: "Your camera and microphone could not start",
  devicesWhy_denied: "The browser refused access. Click the lock (or camera) icon at the left of the page's address, choose \"Allow\", then try again.",
  devicesWhy_missing: "No device was found. Plug in a camera or a headset with a microphone, then try again.",
  devicesWhy_busy: "Another application is using it. Close it (video call, recorder), then try again.",
  devicesWhy_failed: "The browser could not start it. Try again, or run the equipment test.",
  devicesRetry: "Try again",
  leaveConfirm: "Leave the interview?", leaveYes: "Yes, leave", leaveNo: "Stay",
  micOff: "Microphone off", cameraOff: "Camera off", yourMicOff: "Your microphone is off", yourCameraOff: "Your camera is off",
  micOffBy: (/** @type {Name} */ n) => `${n} turned their microphone off`, micOnBy: (/** @type {Name} */ n) => `${n} turned their microphone back on`,
  cameraOffBy: (/** @type {Name} */ n) => `${n} turned their camera off`, cameraOnBy: (/** @type {Name} */ n) => `${n} turned their camera back on`,
  takenOver: "The interview continues in another tab",
  takenOverText: "You joined the interview from another tab or device: it goes on there.",
  takeBack: "Bring the interview back here",
  ringIncoming: (/** @type {Name} */ n) => `${n} is calling you for the video interview`,
  ringHint: "Answer with video, with sound only, or decline.",
  ringAnswer: "Answer", ringAnswerAudio: "Answer with sound only", ringDecline: "Decline", ringSilence: "Silence the ringing",
  ringMissed: (/** @type {Name} */ n) => `Missed call from ${n}`,
  ringMissedHint: "You can join the interview with the “Join the video interview” button, or write to your advisor.",
  ringDeclined: "Call declined. Your advisor is told.", close: "Close",
  devices: "Camera and microphone", deviceFailed: "This device could not start: the previous one is still used.",
});

/** @returns {"fr" | "en"} */
function pickLang() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked === "fr" || asked === "en") {
    keep(LANG_KEY, asked);
    return asked;
  }
  return readKept(LANG_KEY) === "en" ? "en" : "fr";
}

export const lang = pickLang();

/**
 * The text for `key` in the page's language (English, then the key itself, when missing).
 * @param {string} key
 * @param {...any} args
 * @returns {string}
 */
export function t(key, ...args) {
  const entry = STRINGS[lang][key] ?? STRINGS.en[key];
  if (entry === undefined) return key;
  return typeof entry === "function" ? entry(...args) : entry;
}

/**
 * Whether `key` has a text (in the page's language or English).
 * @param {string} key
 */
export function hasText(key) {
  return STRINGS[lang][key] !== undefined || STRINGS.en[key] !== undefined;
}

/**
 * Switch to the other language and reload. The choice is kept for the tab and put in the URL:
 * where the browser refuses storage (the widget on another site) the URL is what survives the
 * reload.
 */
export function switchLang() {
  const other = lang === "fr" ? "en" : "fr";
  keep(LANG_KEY, other);
  const url = new URL(location.href);
  url.searchParams.set("lang", other);
  location.replace(url);
}

/**
 * Fill every element carrying `data-i18n` (its text) and `data-i18n-label` (its aria-label).
 * @param {ParentNode} [root]
 */
export function translate(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(/** @type {string} */ (el.getAttribute("data-i18n")));
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(/** @type {string} */ (el.getAttribute("data-i18n-label"))));
  }
}

const timeFormat = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(lang, { weekday: "short", day: "numeric", month: "short",
  hour: "2-digit", minute: "2-digit" });

/** @param {number} ms */
export const formatTime = (ms) => timeFormat.format(ms);
/** @param {number} ms */
export const formatDateTime = (ms) => dateTimeFormat.format(ms);
const longDateTimeFormat = new Intl.DateTimeFormat(lang, { dateStyle: "full", timeStyle: "short" });
/** An instant in the reader's time zone, in full: "mercredi 2 décembre 2026 à 11:44". @param {number} ms */
export const formatLongDateTime = (ms) => longDateTimeFormat.format(ms);

/**
 * "il y a 5 min" from an age in seconds.
 * @param {number} seconds
 */
export function formatAge(seconds) {
  if (seconds < 60) return t("justNow");
  if (seconds < 3600) return t("minutesAgo", Math.floor(seconds / 60));
  if (seconds < 86400) return t("hoursAgo", Math.floor(seconds / 3600));
  return t("daysAgo", Math.floor(seconds / 86400));
}
