/**
 * Every string the reader sees, in one table: English (with the keys), then German, French,
 * Spanish and Turkish, one string per line in the same order as the English keys.
 */

const en = {
  one: "% comment",
  other: "% comments",
  comments: "Comments",
  invite: "Would love your thoughts, please comment.",
  notify: "Notify of",
  none: "—",
  replies: "new replies to my comments",
  all: "all new follow-up comments",
  name: "Name",
  email: "Email (optional)",
  url: "Website (optional)",
  text: "Your comment",
  placeholder: "Join the discussion…",
  preview: "Preview",
  post: "Post comment",
  reply: "Reply",
  cancel: "Cancel",
  save: "Save",
  edit: "Edit",
  del: "Delete",
  flag: "Report",
  newest: "Newest",
  oldest: "Oldest",
  votes: "Most voted",
  sortBy: "Sort comments",
  inline: "Inline feedback",
  viewAll: "View all comments",
  more: "Load more",
  cont: "Continue this thread",
  tomb: "This comment was deleted.",
  edited: "edited",
  up: "Upvote",
  down: "Downvote",
  pinned: "Pinned",
  held: "Awaiting moderation",
  featured: "Featured",
  byMod: "edited by a moderator",
  closed: "Comments are closed.",
  posted: "Your comment was posted.",
  pending: "Your comment awaits moderation.",
  saved: "Your comment was updated.",
  gone: "Your comment was deleted.",
  sure: "Delete this comment?",
  why: "Why report this comment?",
  thanks: "Thank you for the report.",
  needText: "Please write a comment first.",
  needName: "Please enter your name.",
  needEmail: "Please enter your email to be notified.",
  long: "Your comment is too long: 10,000 characters at most.",
  rate_limited: "Too fast: please wait a moment and try again.",
  thread_closed: "This discussion is closed.",
  edit_window_closed: "The time to edit or delete this comment is over.",
  origin_not_allowed: "This website may not post comments here.",
  oops: "Something went wrong. Please try again.",
};

export type Strings = typeof en;

const OTHERS: Record<string, string> = {
  de: `% Kommentar
% Kommentare
Kommentare
Wir freuen uns auf Ihre Meinung – schreiben Sie einen Kommentar.
Benachrichtigen bei
—
neuen Antworten auf meine Kommentare
allen neuen Kommentaren
Name
E-Mail (freiwillig)
Website (freiwillig)
Ihr Kommentar
Diskutieren Sie mit…
Vorschau
Kommentar senden
Antworten
Abbrechen
Speichern
Bearbeiten
Löschen
Melden
Neueste
Älteste
Beliebteste
Kommentare sortieren
Inline-Feedback
Alle Kommentare anzeigen
Mehr laden
Diesen Strang weiterlesen
Dieser Kommentar wurde gelöscht.
bearbeitet
Positiv bewerten
Negativ bewerten
Angeheftet
Wartet auf Freigabe
Hervorgehoben
von der Moderation bearbeitet
Die Kommentare sind geschlossen.
Ihr Kommentar wurde veröffentlicht.
Ihr Kommentar wartet auf Freigabe.
Ihr Kommentar wurde geändert.
Ihr Kommentar wurde gelöscht.
Diesen Kommentar löschen?
Warum melden Sie diesen Kommentar?
Danke für Ihre Meldung.
Bitte schreiben Sie zuerst einen Kommentar.
Bitte geben Sie Ihren Namen an.
Bitte geben Sie für Benachrichtigungen Ihre E-Mail an.
Ihr Kommentar ist zu lang: höchstens 10.000 Zeichen.
Zu schnell: Bitte warten Sie kurz und versuchen Sie es erneut.
Diese Diskussion ist geschlossen.
Die Zeit zum Bearbeiten oder Löschen ist abgelaufen.
Diese Website darf hier keine Kommentare senden.
Etwas ist schiefgegangen. Bitte versuchen Sie es erneut.`,
  fr: `% commentaire
% commentaires
Commentaires
Votre avis nous intéresse, laissez un commentaire.
M’avertir des
—
nouvelles réponses à mes commentaires
nouveaux commentaires de la discussion
Nom
E-mail (facultatif)
Site web (facultatif)
Votre commentaire
Participez à la discussion…
Aperçu
Publier
Répondre
Annuler
Enregistrer
Modifier
Supprimer
Signaler
Plus récents
Plus anciens
Mieux notés
Trier les commentaires
Commentaires en ligne
Voir tous les commentaires
Afficher plus
Continuer cette discussion
Ce commentaire a été supprimé.
modifié
Voter pour
Voter contre
Épinglé
En attente de modération
À la une
modifié par la modération
Les commentaires sont fermés.
Votre commentaire a été publié.
Votre commentaire attend la modération.
Votre commentaire a été modifié.
Votre commentaire a été supprimé.
Supprimer ce commentaire ?
Pourquoi signaler ce commentaire ?
Merci pour votre signalement.
Écrivez d’abord un commentaire.
Indiquez votre nom.
Indiquez votre e-mail pour être averti.
Votre commentaire est trop long : 10 000 caractères au plus.
Trop rapide : patientez un instant puis réessayez.
Cette discussion est fermée.
Le délai pour modifier ou supprimer ce commentaire est écoulé.
Ce site ne peut pas publier de commentaires ici.
Un problème est survenu. Veuillez réessayer.`,
  es: `% comentario
% comentarios
Comentarios
Nos encantaría saber tu opinión, deja un comentario.
Avisarme de
—
nuevas respuestas a mis comentarios
todos los comentarios nuevos
Nombre
Correo (opcional)
Sitio web (opcional)
Tu comentario
Únete a la conversación…
Vista previa
Publicar comentario
Responder
Cancelar
Guardar
Editar
Eliminar
Denunciar
Más recientes
Más antiguos
Más votados
Ordenar comentarios
Comentarios en línea
Ver todos los comentarios
Cargar más
Continuar este hilo
Este comentario fue eliminado.
editado
Votar a favor
Votar en contra
Fijado
Pendiente de moderación
Destacado
editado por la moderación
Los comentarios están cerrados.
Tu comentario se ha publicado.
Tu comentario espera moderación.
Tu comentario se ha actualizado.
Tu comentario se ha eliminado.
¿Eliminar este comentario?
¿Por qué denuncias este comentario?
Gracias por tu denuncia.
Escribe primero un comentario.
Escribe tu nombre.
Escribe tu correo para recibir avisos.
Tu comentario es demasiado largo: 10.000 caracteres como máximo.
Demasiado rápido: espera un momento y vuelve a intentarlo.
Esta conversación está cerrada.
Ya no se puede editar ni eliminar este comentario.
Este sitio no puede publicar comentarios aquí.
Algo salió mal. Inténtalo de nuevo.`,
  tr: `% yorum
% yorum
Yorumlar
Düşüncelerinizi merak ediyoruz, lütfen yorum yapın.
Bildir:
—
yorumlarıma gelen yeni yanıtlar
tüm yeni yorumlar
Ad
E-posta (isteğe bağlı)
Web sitesi (isteğe bağlı)
Yorumunuz
Tartışmaya katılın…
Önizleme
Yorumu gönder
Yanıtla
Vazgeç
Kaydet
Düzenle
Sil
Şikâyet et
En yeni
En eski
En çok oy alan
Yorumları sırala
Satır içi geri bildirim
Tüm yorumları gör
Daha fazla yükle
Bu konuşmaya devam et
Bu yorum silindi.
düzenlendi
Olumlu oy
Olumsuz oy
Sabitlendi
Onay bekliyor
Öne çıkan
moderatör tarafından düzenlendi
Yorumlar kapalı.
Yorumunuz yayımlandı.
Yorumunuz onay bekliyor.
Yorumunuz güncellendi.
Yorumunuz silindi.
Bu yorum silinsin mi?
Bu yorumu neden şikâyet ediyorsunuz?
Bildiriminiz için teşekkürler.
Lütfen önce bir yorum yazın.
Lütfen adınızı girin.
Bildirim için lütfen e-postanızı girin.
Yorumunuz çok uzun: en fazla 10.000 karakter.
Çok hızlı: lütfen biraz bekleyip yeniden deneyin.
Bu tartışma kapalı.
Bu yorumu düzenleme veya silme süresi doldu.
Bu site buraya yorum gönderemez.
Bir şeyler ters gitti. Lütfen yeniden deneyin.`,
};

/** The reader's strings and language (see `setLang`). */
export let t = en;
export let lang = "en";

/** Choose the language of `data-lang`, else of `<html lang>`, among those in the table (else English). */
export function setLang(host: HTMLElement): void {
  const tag = (host.dataset.lang || document.documentElement.lang || "").toLowerCase().split(/[-_]/)[0] || "";
  const lines = OTHERS[tag];
  if (!lines) return;
  lang = tag;
  const keys = Object.keys(en) as (keyof Strings)[];
  t = { ...en };
  lines.split("\n").forEach((line, i) => (t[keys[i] as keyof Strings] = line));
}

/** "12 comments", in the language's plural form. */
export function countText(n: number): string {
  // toLocaleString costs ~20 ms the first time (number data): only for numbers that need grouping.
  const shown = n < 1e3 ? String(n) : n.toLocaleString(lang);
  return (new Intl.PluralRules(lang).select(n) == "one" ? t.one : t.other).replace("%", shown);
}
