/**
 * Every string the reader sees when the widget opens, in one table: English (with the keys), then German,
 * French, Spanish and Turkish, one string per line in the same order as the English keys. What only
 * actions.js needs (messages after a post, errors, dialogs, following) is in words.ts.
 */

const en = {
  one: "% comment",
  other: "% comments",
  comments: "Comments",
  invite: "Would love your thoughts, please comment.",
  first: "Be the first to comment.",
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
  noInline: "No inline feedback yet: nobody has commented on a passage of this article.",
  viewAll: "View all % comments",
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
  follow: "Follow",
  off: "Comments are unavailable right now.",
  updates: "updates to this story",
  signIn: "Sign in",
  staff: "Staff",
  moderator: "Moderator",
  verified: "Verified",
  author: "Author",
};

export type Strings = typeof en;

const OTHERS: Record<string, string> = {
  de: `% Kommentar
% Kommentare
Kommentare
Wir freuen uns auf Ihre Meinung – schreiben Sie einen Kommentar.
Schreiben Sie den ersten Kommentar.
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
Noch kein Inline-Feedback: Niemand hat bisher eine Textstelle dieses Artikels kommentiert.
Alle % Kommentare anzeigen
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
Folgen
Die Kommentare sind gerade nicht verfügbar.
Aktualisierungen dieses Artikels
Anmelden
Redaktion
Moderation
Verifiziert
Autor`,
  fr: `% commentaire
% commentaires
Commentaires
Votre avis nous intéresse, laissez un commentaire.
Soyez le premier à commenter.
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
Pas encore de commentaires en ligne : personne n’a commenté un passage de cet article.
Voir les % commentaires
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
Suivre
Les commentaires sont indisponibles pour le moment.
mises à jour de cet article
Se connecter
Rédaction
Modération
Vérifié
Auteur`,
  es: `% comentario
% comentarios
Comentarios
Nos encantaría saber tu opinión, deja un comentario.
Sé el primero en comentar.
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
Aún no hay comentarios en línea: nadie ha comentado un pasaje de este artículo.
Ver los % comentarios
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
Seguir
Los comentarios no están disponibles en este momento.
actualizaciones de esta noticia
Iniciar sesión
Redacción
Moderador
Verificado
Autor`,
  tr: `% yorum
% yorum
Yorumlar
Düşüncelerinizi merak ediyoruz, lütfen yorum yapın.
İlk yorumu siz yapın.
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
Henüz satır içi geri bildirim yok: bu makalenin bir bölümüne kimse yorum yapmadı.
% yorumun tümünü gör
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
Takip et
Yorumlar şu anda kullanılamıyor.
bu habere dair güncellemeler
Giriş yap
Editör
Moderatör
Doğrulanmış
Yazar`,
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

/** A signed-in author's badge as the reader reads it (staff, moderator, verified, author). */
export const badgeText = (b: string) => (b == "staff" || b == "moderator" || b == "verified" || b == "author" ? t[b] : b);

/** A count as text; toLocaleString costs ~20 ms the first time (number data): only where it groups. */
export const num = (n: number) => (n < 1e3 ? String(n) : n.toLocaleString(lang));

/** "12 comments", in the language's plural form. */
export function countText(n: number): string {
  return (new Intl.PluralRules(lang).select(n) == "one" ? t.one : t.other).replace("%", num(n));
}
