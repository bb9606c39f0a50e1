/**
 * The strings of actions.js (src/actions.ts): what the reader reads after doing something (posting,
 * deleting, reporting, following) and the problems the API may answer. Laid out like i18n.ts: English
 * with the keys, then German, French, Spanish and Turkish, one line per English key, in its order.
 */

const en = {
  posted: "Your comment was posted.",
  pending: "Your comment awaits moderation.",
  saved: "Your comment was updated.",
  gone: "Your comment was deleted.",
  sure: "Delete this comment?",
  sureText: "It is removed for everyone; this cannot be undone.",
  report: "Report this comment",
  why: "Why report this comment?",
  needWhy: "Please say why.",
  thanks: "Thank you for the report.",
  needText: "Please write a comment first.",
  needName: "Please enter your name.",
  needEmail: "Please enter your email to be notified.",
  long: "Your comment is too long: 10,000 characters at most.",
  rate_limited: "Too fast: please wait a moment and try again.",
  wait: "Too fast: please try again %.",
  thread_closed: "This discussion is closed.",
  edit_window_closed: "The time to edit or delete this comment is over.",
  origin_not_allowed: "This website may not post comments here.",
  vote_limit: "Too many votes on this comment have come from your network already.",
  banned: "The moderators of this site have blocked your comments.",
  own_comment: "You cannot vote on your own comment.",
  not_found: "This comment is no longer there.",
  forbidden: "This comment can no longer be changed from this browser.",
  unavailable: "The comments are busy right now. Please try again in a moment.",
  network: "Could not reach the comments. Check your connection and try again.",
  oops: "Something went wrong. Please try again.",
  replyPh: "Write a reply…",
  confirm: "Check your inbox to confirm.",
  digest: "How often",
  instant: "one mail per comment",
  daily: "a daily digest",
  followEmail: "Your email",
  followHint: "Get an email when someone comments on this article.",
};

export type Words = typeof en;

const OTHERS: Record<string, string> = {
  de: `Ihr Kommentar wurde veröffentlicht.
Ihr Kommentar wartet auf Freigabe.
Ihr Kommentar wurde geändert.
Ihr Kommentar wurde gelöscht.
Diesen Kommentar löschen?
Er wird für alle entfernt; das lässt sich nicht rückgängig machen.
Diesen Kommentar melden
Warum melden Sie diesen Kommentar?
Bitte geben Sie einen Grund an.
Danke für Ihre Meldung.
Bitte schreiben Sie zuerst einen Kommentar.
Bitte geben Sie Ihren Namen an.
Bitte geben Sie für Benachrichtigungen Ihre E-Mail an.
Ihr Kommentar ist zu lang: höchstens 10.000 Zeichen.
Zu schnell: Bitte warten Sie kurz und versuchen Sie es erneut.
Zu schnell: Bitte versuchen Sie es % erneut.
Diese Diskussion ist geschlossen.
Die Zeit zum Bearbeiten oder Löschen ist abgelaufen.
Diese Website darf hier keine Kommentare senden.
Aus Ihrem Netzwerk kamen schon zu viele Stimmen für diesen Kommentar.
Die Moderation dieser Website hat Ihre Kommentare gesperrt.
Sie können nicht für Ihren eigenen Kommentar stimmen.
Diesen Kommentar gibt es nicht mehr.
Dieser Kommentar kann von diesem Browser aus nicht mehr geändert werden.
Die Kommentare sind gerade überlastet. Bitte versuchen Sie es gleich noch einmal.
Die Kommentare sind nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.
Etwas ist schiefgegangen. Bitte versuchen Sie es erneut.
Antwort schreiben…
Bitte sehen Sie in Ihrem Posteingang nach und bestätigen Sie.
Wie oft
eine E-Mail pro Kommentar
eine tägliche Zusammenfassung
Ihre E-Mail
Erhalten Sie eine E-Mail, wenn jemand diesen Artikel kommentiert.`,
  fr: `Votre commentaire a été publié.
Votre commentaire attend la modération.
Votre commentaire a été modifié.
Votre commentaire a été supprimé.
Supprimer ce commentaire ?
Il sera retiré pour tout le monde ; c’est définitif.
Signaler ce commentaire
Pourquoi signaler ce commentaire ?
Indiquez la raison.
Merci pour votre signalement.
Écrivez d’abord un commentaire.
Indiquez votre nom.
Indiquez votre e-mail pour être averti.
Votre commentaire est trop long : 10 000 caractères au plus.
Trop rapide : patientez un instant puis réessayez.
Trop rapide : réessayez %.
Cette discussion est fermée.
Le délai pour modifier ou supprimer ce commentaire est écoulé.
Ce site ne peut pas publier de commentaires ici.
Trop de votes sur ce commentaire proviennent déjà de votre réseau.
La modération de ce site a bloqué vos commentaires.
Vous ne pouvez pas voter pour votre propre commentaire.
Ce commentaire n’existe plus.
Ce commentaire ne peut plus être modifié depuis ce navigateur.
Les commentaires sont surchargés. Réessayez dans un instant.
Impossible de joindre les commentaires. Vérifiez votre connexion et réessayez.
Un problème est survenu. Veuillez réessayer.
Écrire une réponse…
Consultez votre boîte de réception pour confirmer.
Fréquence
un e-mail par commentaire
un résumé quotidien
Votre e-mail
Recevez un e-mail quand quelqu’un commente cet article.`,
  es: `Tu comentario se ha publicado.
Tu comentario espera moderación.
Tu comentario se ha actualizado.
Tu comentario se ha eliminado.
¿Eliminar este comentario?
Se quitará para todos; no se puede deshacer.
Denunciar este comentario
¿Por qué denuncias este comentario?
Indica el motivo.
Gracias por tu denuncia.
Escribe primero un comentario.
Escribe tu nombre.
Escribe tu correo para recibir avisos.
Tu comentario es demasiado largo: 10.000 caracteres como máximo.
Demasiado rápido: espera un momento y vuelve a intentarlo.
Demasiado rápido: vuelve a intentarlo %.
Esta conversación está cerrada.
Ya no se puede editar ni eliminar este comentario.
Este sitio no puede publicar comentarios aquí.
Ya han llegado demasiados votos a este comentario desde tu red.
La moderación de este sitio ha bloqueado tus comentarios.
No puedes votar tu propio comentario.
Este comentario ya no existe.
Este comentario ya no se puede cambiar desde este navegador.
Los comentarios están saturados. Inténtalo de nuevo en un momento.
No se pudo conectar con los comentarios. Revisa tu conexión e inténtalo de nuevo.
Algo salió mal. Inténtalo de nuevo.
Escribe una respuesta…
Revisa tu bandeja de entrada para confirmar.
Frecuencia
un correo por comentario
un resumen diario
Tu correo
Recibe un correo cuando alguien comente este artículo.`,
  tr: `Yorumunuz yayımlandı.
Yorumunuz onay bekliyor.
Yorumunuz güncellendi.
Yorumunuz silindi.
Bu yorum silinsin mi?
Herkes için kaldırılır; geri alınamaz.
Bu yorumu şikâyet et
Bu yorumu neden şikâyet ediyorsunuz?
Lütfen nedenini yazın.
Bildiriminiz için teşekkürler.
Lütfen önce bir yorum yazın.
Lütfen adınızı girin.
Bildirim için lütfen e-postanızı girin.
Yorumunuz çok uzun: en fazla 10.000 karakter.
Çok hızlı: lütfen biraz bekleyip yeniden deneyin.
Çok hızlı: lütfen % yeniden deneyin.
Bu tartışma kapalı.
Bu yorumu düzenleme veya silme süresi doldu.
Bu site buraya yorum gönderemez.
Bu yoruma ağınızdan zaten çok fazla oy geldi.
Bu sitenin moderatörleri yorumlarınızı engelledi.
Kendi yorumunuza oy veremezsiniz.
Bu yorum artık yok.
Bu yorum artık bu tarayıcıdan değiştirilemez.
Yorumlar şu anda yoğun. Lütfen birazdan yeniden deneyin.
Yorumlara ulaşılamadı. Bağlantınızı kontrol edip yeniden deneyin.
Bir şeyler ters gitti. Lütfen yeniden deneyin.
Bir yanıt yazın…
Onaylamak için gelen kutunuza bakın.
Sıklık
her yorum için bir e-posta
günlük özet
E-postanız
Bu makaleye yorum yapıldığında e-posta alın.`,
};

/** The strings in `lang` (one of the languages of i18n.ts), else in English. */
export function wordsFor(lang: string): Words {
  const w = { ...en };
  const keys = Object.keys(en) as (keyof Words)[];
  OTHERS[lang]?.split("\n").forEach((line, i) => (w[keys[i]!] = line));
  return w;
}
