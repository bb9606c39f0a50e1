"use strict";(()=>{var ee={};function g(e){try{return localStorage.getItem("kibitz:"+e)}catch{return ee[e]??null}}function u(e,t){try{t==null?localStorage.removeItem("kibitz:"+e):localStorage.setItem("kibitz:"+e,t)}catch{t==null?delete ee[e]:ee[e]=t}}function C(e){try{return JSON.parse(g(e)||"null")}catch{return null}}var Ve=15*6e4;function x(e){return C("token:"+e)}function fe(e){let t=x(e);return t?Math.max(0,t.created+Ve-Date.now()):0}var f=class extends Error{constructor(n,r,o=[]){super(r);this.status=n;this.code=r;this.errors=o}},ge="",be=e=>ge=e,Ye=12e4;async function h(e,t,n,r){let o={},a=Number(g("wrote"))||0;e=="GET"&&Date.now()-a<Ye&&(t+=(t.includes("?")?"&":"?")+"fresh="+a),n!==void 0&&(o["Content-Type"]="application/json");let d=g("reader");e!="GET"&&d&&(o["X-Kibitz-Reader"]=d),r&&(o.Authorization="Bearer "+r);let l;try{l=await fetch(ge+t,{method:e,headers:o,body:n===void 0?null:JSON.stringify(n),cache:"no-cache"})}catch{throw new f(0,"network")}e!="GET"&&l.ok&&!t.endsWith("/preview")&&u("wrote",String(Date.now()));let c=l.headers.get("X-Kibitz-Reader");c&&u("reader",c);let m=l.status==204?null:await l.json().catch(()=>null);if(!l.ok)throw new f(l.status,m&&m.code||"",m&&m.errors||[]);return m}function s(e,t,...n){let r=document.createElement(e);for(let o in t){let a=t[o];a===!0?r.setAttribute(o,""):a!=null&&a!==!1&&r.setAttribute(o,String(a))}return he(r,n),r}function he(e,t){for(let n of t)Array.isArray(n)?he(e,n):(n||n==="")&&e.appendChild(typeof n=="string"?document.createTextNode(n):n)}function ye(e){let t="http://www.w3.org/2000/svg",n=document.createElementNS(t,"svg"),r=document.createElementNS(t,"path");return n.setAttribute("viewBox","0 0 16 16"),n.setAttribute("aria-hidden","true"),r.setAttribute("d",e?"M8 3l6 8H2z":"M8 13L2 5h12z"),n.appendChild(r),n}var te={one:"% comment",other:"% comments",comments:"Comments",invite:"Would love your thoughts, please comment.",notify:"Notify of",none:"—",replies:"new replies to my comments",all:"all new follow-up comments",name:"Name",email:"Email (optional)",url:"Website (optional)",text:"Your comment",placeholder:"Join the discussion…",preview:"Preview",post:"Post comment",reply:"Reply",cancel:"Cancel",save:"Save",edit:"Edit",del:"Delete",flag:"Report",newest:"Newest",oldest:"Oldest",votes:"Most voted",sortBy:"Sort comments",inline:"Inline feedback",viewAll:"View all comments",more:"Load more",cont:"Continue this thread",tomb:"This comment was deleted.",edited:"edited",up:"Upvote",down:"Downvote",pinned:"Pinned",held:"Awaiting moderation",featured:"Featured",byMod:"edited by a moderator",closed:"Comments are closed.",posted:"Your comment was posted.",pending:"Your comment awaits moderation.",saved:"Your comment was updated.",gone:"Your comment was deleted.",sure:"Delete this comment?",why:"Why report this comment?",thanks:"Thank you for the report.",needText:"Please write a comment first.",needName:"Please enter your name.",needEmail:"Please enter your email to be notified.",long:"Your comment is too long: 10,000 characters at most.",rate_limited:"Too fast: please wait a moment and try again.",thread_closed:"This discussion is closed.",edit_window_closed:"The time to edit or delete this comment is over.",origin_not_allowed:"This website may not post comments here.",oops:"Something went wrong. Please try again."},We={de:`% Kommentar
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
Etwas ist schiefgegangen. Bitte versuchen Sie es erneut.`,fr:`% commentaire
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
Un problème est survenu. Veuillez réessayer.`,es:`% comentario
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
Algo salió mal. Inténtalo de nuevo.`,tr:`% yorum
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
Bir şeyler ters gitti. Lütfen yeniden deneyin.`},i=te,b="en";function ve(e){let t=(e.dataset.lang||document.documentElement.lang||"").toLowerCase().split(/[-_]/)[0]||"",n=We[t];if(!n)return;b=t;let r=Object.keys(te);i={...te},n.split(`
`).forEach((o,a)=>i[r[a]]=o)}function xe(e){let t=e<1e3?String(e):e.toLocaleString(b);return(new Intl.PluralRules(b).select(e)=="one"?i.one:i.other).replace("%",t)}var je="nofollow ugc noopener noreferrer",Ge={p:[],br:[],em:[],strong:[],s:[],del:[],code:["class"],pre:[],blockquote:[],ul:[],ol:["start"],li:[],a:["href","title","rel"],hr:[],img:["src","alt","title"]},Je=/^[^\s\x00-\x1f\x7f-\x9f\\]+$/,Ue={"a.href":/^(https?:\/\/[^/@?#]|mailto:[^/])/i,"img.src":/^https?:\/\/[^/@?#]/i,"code.class":/^language-[\w+#.-]{1,32}$/,"ol.start":/^\d{1,9}$/};function F(e){let t=document.createElement("template");return t.innerHTML=e,ke(t.content),t.content}function ke(e){for(let t of Array.from(e.childNodes)){if(t.nodeType==3)continue;let n=t,r=t.nodeType==1?n.localName:"",o=n.namespaceURI=="http://www.w3.org/1999/xhtml"?Ge[r]:void 0;if(!o){e.removeChild(t);continue}for(let a of Array.from(n.attributes)){let d=r+"."+a.name,l=Ue[d];o.indexOf(a.name)>=0&&(!l||l.test(a.value))&&(d!="a.href"&&d!="img.src"||Je.test(a.value))||n.removeAttribute(a.name)}r=="a"&&n.setAttribute("rel",je),ke(n)}}var Xe=[["year",31536e3],["month",2592e3],["week",604800],["day",86400],["hour",3600],["minute",60]],T={},ne,re=[];function O(e){let t=(Date.now()-Date.parse(e))/1e3;for(let[n,r]of Xe)if(t>=r)return(T.a||(T.a=new Intl.RelativeTimeFormat(b))).format(-Math.floor(t/r),n);return(T.n||(T.n=new Intl.RelativeTimeFormat(b,{numeric:"auto"}))).format(0,"second")}function _(e,t){return ne?e.title=ne.format(new Date(t)):re.push([e,t])==1&&requestAnimationFrame(()=>setTimeout(()=>{ne=new Intl.DateTimeFormat(b,{dateStyle:"long",timeStyle:"short"});for(let[n,r]of re)_(n,r);re=[]})),e}var Ee=5,Ze=0,A=!1,Te=e=>A=e;function y(e,t,n){return s("button",{type:"button","data-action":e,...n},t)}function Qe(e){return _(s("time",{datetime:e},O(e)),e)}function et(e){let t=s("div",{class:"kb-body","data-body":""});return t.appendChild(F(e)),t}function we(e,t,n){let r=s("button",{type:"button",class:"kb-vote","data-action":t>0?"upvote":"downvote","aria-label":t>0?i.up:i.down,"aria-pressed":String(g("vote:"+e.id)==String(t)),disabled:n});return r.appendChild(ye(t>0)),r}function tt(e){let{name:t,url:n}=e.author;return n&&/^https?:\/\//i.test(n)?s("a",{class:"kb-name","data-author":"",href:n,rel:"nofollow ugc noopener noreferrer"},t):s("span",{class:"kb-name","data-author":""},t)}function z(e){if(e.deleted)return s("article",{class:"kb-c",tabindex:-1},s("span",{class:"kb-av"}),s("p",{class:"kb-tomb"},i.tomb));let t=!!x(e.id),n=e.status=="pending",r=!n&&fe(e.id)>0;return s("article",{class:"kb-c",tabindex:-1},e.author.avatar?s("img",{class:"kb-av","data-avatar":"",alt:"",src:e.author.avatar,width:40,height:40}):s("span",{class:"kb-av"}),s("div",{class:"kb-main"},s("header",{class:"kb-meta"},tt(e),Qe(e.created),e.edited&&_(s("span",{class:"kb-ed","data-mod-edited":e.edited_by_moderator},e.edited_by_moderator?i.byMod:i.edited),e.edited),e.pinned&&s("span",{class:"kb-tag"},i.pinned),e.featured&&s("span",{class:"kb-tag","data-featured":""},i.featured),n&&s("span",{class:"kb-tag"},i.held)),et(e.html),s("div",{class:"kb-acts"},we(e,1,t),s("span",{class:"kb-score","data-score":"",title:`+${e.up} / −${e.down}`},String(e.score)),we(e,-1,t),!A&&y("reply",i.reply,{"aria-expanded":"false"}),r&&y("edit",i.edit),r&&y("delete",i.del),!t&&y("flag",i.flag))))}function k(e,t){let n=s("li",{"data-comment-id":e.id,"data-deleted":e.deleted,"data-depth":t,"data-pending":e.status=="pending"});return n.appendChild(z(e)),e.replies.length&&n.appendChild(V(e.replies,t+1)),e.reply_count>e.replies.length&&n.appendChild(y("continue",t>=Ee?i.cont:i.more,{class:"kb-link"})),n}function V(e,t){return s("ol",{"data-replies":"",class:t>Ee?"kb-flat":null},e.map(n=>k(n,t)))}function Se(e,t){return s("div",{class:"kb-err",id:e+t+"-err",role:"alert","data-error-for":t})}function H(e,t,n,r,o=""){return r.id=e+t,r.name=t,t!="notify"&&r.setAttribute("aria-describedby",e+t+"-err"),s("div",{class:"kb-f "+o},s("label",{for:e+t,class:t=="text"?"kb-sr":null},n),r,t!="notify"&&Se(e,t))}function oe(e,t=""){let n="kb"+Ze+++"-",r=C("author")||{},o=(m,K,$)=>s("input",{type:K,value:r[m]||"",autocomplete:$,maxlength:m=="name"?64:null}),a=s("textarea",{rows:e=="main"?4:3,placeholder:i.placeholder});a.value=t;let d=s("select",null,s("option",{value:"none"},i.none),s("option",{value:"replies"},i.replies),s("option",{value:"all"},i.all)),l=r.notify;l&&(d.value=l);let c=e=="edit";return s("form",{class:"kb-form kb-"+e,"data-form":e,novalidate:!0},!c&&s("div",{class:"kb-notify"},H(n,"notify",i.notify,d,"kb-inl")),H(n,"text",i.text,a),!c&&s("div",{class:"kb-row"},H(n,"name",i.name,o("name","text","name")),H(n,"email",i.email,o("email","email","email")),H(n,"url",i.url,o("url","url","url"))),s("div",{class:"kb-preview kb-body","data-preview":"",hidden:!0}),Se(n,"form"),s("div",{class:"kb-btns"},e!="main"&&y("cancel",i.cancel,{class:"kb-ghost"}),!c&&y("preview",i.preview,{class:"kb-ghost"}),s("button",{type:"submit",class:"kb-primary"},c?i.save:e=="main"?i.post:i.reply)))}function Le(e){let t=(o,a)=>e.querySelector(":scope>header "+o)?.getAttribute(a)||"",n=o=>e.querySelector(":scope>"+o)?.textContent||"",r=Array.from(e.querySelectorAll(":scope>.kibitz-replies>article"),Le);return{id:e.getAttribute("data-comment-id")||"",author:{name:n("header [itemprop=name]"),avatar:t("img","src")||null,url:t("a[itemprop=url]","href")||null},html:e.querySelector(":scope>.kibitz-text")?.innerHTML||"",created:t("time","datetime"),score:+n("header .kibitz-score"),up:+t("[itemprop=upvoteCount]","content"),down:+t("[itemprop=downvoteCount]","content"),replies:r,reply_count:r.length,deleted:e.classList.contains("kibitz-deleted")}}function Me(e){return{thread:{count:+(e.querySelector("[data-count]")?.getAttribute("data-count")||0),closed:!!e.querySelector(".kibitz-closed")},comments:Array.from(e.querySelectorAll(":scope>article"),Le),next:null}}var nt="#fff,#1f2328,#57606a,#d0d7de,#f6f8fa,#0a6e52,#fff,#fff5c2,#cf222e",rt="#16181c,#e6e8eb,#9aa5b1,#3a4049,#1f2329,#4fd1a5,#0b1f17,#4a4216,#ff8182",Ce=["bg","fg","muted","border","surface","accent","on-accent","mark","error"],He=e=>e.split(",").map((t,n)=>`--${Ce[n]}:var(--kb-${Ce[n]},${t});`).join(""),ae=`
:host{all:initial;display:block}
[hidden]{display:none!important}
.kb{${He(nt)}color-scheme:light;background:var(--bg);color:var(--fg);border-radius:var(--kb-radius,8px);
font:15px/1.55 var(--kb-font,system-ui,-apple-system,"Segoe UI",sans-serif);
padding:20px;text-align:start;overflow-wrap:anywhere}
.kb[data-theme=dark]{${He(rt)}color-scheme:dark}
.kb *{box-sizing:border-box}
.kb-sr{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.kb-top{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 16px;border-bottom:2px solid var(--accent);
padding-bottom:8px;margin-bottom:12px}
h2{font-size:1.25em;margin:0;font-weight:700}
.kb-invite{margin:0;color:var(--muted)}
.kb-form{display:grid;gap:10px;margin:0 0 20px}
.kb-notify{display:flex;justify-content:flex-end}
.kb-f{display:grid;gap:4px;min-width:0;align-content:start}
.kb-inl{display:flex;align-items:center;gap:8px}
label,.kb-meta,.kb-err,.kb-acts,.kb-note{font-size:.87em;color:var(--muted)}
input,textarea,select,button{font:inherit;color:inherit}
input,textarea,select{background:var(--bg);border:1px solid var(--border);border-radius:6px;padding:8px 10px;width:100%}
select{width:auto;padding:4px 8px}
textarea{resize:vertical;min-height:5.2em}
[aria-invalid=true]{border-color:var(--error)}
.kb-row{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px}
.kb-err{color:var(--error)}
.kb-err:empty{display:none}
.kb-btns{display:flex;flex-wrap:wrap;align-items:center;gap:8px;justify-content:flex-end}
button{cursor:pointer;background:none;border:0;padding:4px 6px;border-radius:6px}
button:disabled{cursor:default;opacity:.5}
.kb-primary{background:var(--accent);color:var(--on-accent);font-weight:600;padding:8px 16px}
.kb-ghost{border:1px solid var(--border);padding:7px 14px}
button:hover:not(:disabled,.kb-primary){background:var(--surface)}
.kb-preview{border:1px dashed var(--border);border-radius:6px;padding:8px 12px}
.kb-bar{display:flex;flex-wrap:wrap;align-items:center;gap:8px;border-bottom:1px solid var(--border);margin-bottom:8px}
[role=tablist]{display:flex;margin-inline-start:auto}
[role=tab],[data-filter]{color:var(--muted);padding:8px 10px;border-radius:0;border-bottom:2px solid transparent;margin-bottom:-1px}
[aria-selected=true],[data-filter][aria-pressed=true]{color:var(--fg);border-color:var(--accent);font-weight:600}
ol{list-style:none;margin:0;padding:0}
[data-replies]{margin-inline-start:28px;padding-inline-start:12px;border-inline-start:2px solid var(--border)}
.kb-flat{margin:0;padding:0;border:0}
.kb-c{display:flex;gap:12px;padding:12px 6px;border-radius:6px}
li[data-highlighted]>.kb-c{background:var(--mark)}
.kb-av{flex:none;width:40px;height:40px;border-radius:50%;background:var(--surface)}
[data-replies] .kb-av{width:32px;height:32px}
.kb-main{flex:1;min-width:0}
.kb-meta{display:flex;flex-wrap:wrap;align-items:baseline;gap:2px 10px}
.kb-name{color:var(--fg);font-weight:600;font-size:1.07em;text-decoration:none}
.kb-ed::before{content:"· "}
.kb-tag{background:var(--surface);border-radius:9px;padding:0 7px}
.kb-body{margin:4px 0 2px}
.kb-body>*{margin:0 0 .6em}
.kb-body>:last-child{margin:0}
.kb-body :is(ul,ol){padding-inline-start:1.4em;list-style:revert}
.kb-body a{color:var(--accent)}
.kb-body blockquote{border-inline-start:3px solid var(--border);padding-inline-start:10px;color:var(--muted)}
.kb-body code{font:.9em ui-monospace,monospace;background:var(--surface);padding:1px 4px;border-radius:4px}
.kb-body pre{background:var(--surface);padding:8px;border-radius:6px;overflow:auto}
.kb-body img{max-width:100%;height:auto}
.kb-tomb{color:var(--muted);font-style:italic;margin:8px 0}
.kb-acts{display:flex;flex-wrap:wrap;align-items:center;gap:2px;margin-inline-start:-6px}
.kb-acts button{color:var(--muted);font-weight:600}
.kb-vote{display:inline-flex;padding:6px}
.kb-vote svg{width:14px;height:14px;fill:currentColor}
.kb-vote[aria-pressed=true]{color:var(--accent)}
.kb-score{min-width:1.6em;text-align:center;font-weight:700;color:var(--fg)}
.kb-note{margin:4px 0}
.kb-link,.kb-more{color:var(--accent);font-weight:600;padding:6px 8px}
.kb-more{display:block;width:100%;margin-top:12px;border:1px solid var(--border);padding:10px}
.kb-closed{color:var(--muted);font-style:italic}
@media (max-width:480px){.kb{padding:12px}[data-replies]{margin-inline-start:8px;padding-inline-start:8px}.kb-av{width:32px;height:32px}}
`;var Be=10,De=["newest","oldest","votes"],Ae={text:"text","author.name":"name","author.email":"email","author.url":"url"},ie=document.currentScript||Array.from(document.querySelectorAll("script[src]")).find(e=>/\/embed\.js([?#]|$)/.test(e.src)),v,p,I,se,le,de,P,G,w,ce,Y=0,L="",B="",E="newest",j=!1,U=!1,S=0,D=null,pe=encodeURIComponent,me=()=>"posted:"+L+" "+B,R=e=>p.querySelector(`li[data-comment-id="${e}"]`),q=(e,t=v)=>Array.from(t.querySelectorAll(e));function ze(){let e=document.getElementById("kibitz");if(!e||e.shadowRoot||!ie)return;be(ie.src.replace(/\/embed\.js([?#].*)?$/,"")),L=e.dataset.site||"",B=e.dataset.page||location.pathname.replace(/(.)\/+$/,"$1");let t=g("sort");E=De.indexOf(t)>=0?t:"newest",ve(e);let n=e.querySelector("section[data-kibitz-ssr]"),r=e.attachShadow({mode:"open"});if(r.adoptedStyleSheets&&window.CSSStyleSheet&&"replaceSync"in CSSStyleSheet.prototype){let d=new CSSStyleSheet;d.replaceSync(ae),r.adoptedStyleSheets=[d]}else r.appendChild(s("style",null,ae));r.appendChild(ot());let o=matchMedia("(prefers-color-scheme: dark)"),a=()=>{let d=e.dataset.theme;v.dataset.theme=d=="dark"||d!="light"&&o.matches?"dark":"light"};if(a(),o.addEventListener?.("change",a),n){let d=Me(n);n.remove(),n.getAttribute("data-sort")==E&&(d.comments=d.comments.slice(0,Be),qe(d,!1))}v.addEventListener("click",mt),v.addEventListener("submit",st),v.addEventListener("keydown",bt),window.addEventListener("hashchange",Ie),N(!1).then(Ie).then(()=>{window.kibitzLive={site:L,page:B,root:v,count:X,comment:k,article:z,t:i,lang:b,ago:O},document.head.appendChild(s("script",{src:ie.src.replace(/embed\.js.*/,"live.js"),async:!0}))})}function ot(){return I=s("h2",{tabindex:-1},i.comments),se=s("p",{class:"kb-invite","data-invite":""},i.invite),le=oe("main"),de=s("p",{class:"kb-closed",hidden:!0},i.closed),w=De.map(e=>s("button",{type:"button",role:"tab",id:"kb-tab-"+e,"data-sort":e,"aria-controls":"kb-list"},i[e])),ce=s("button",{type:"button","data-filter":"inline","aria-pressed":"false"},i.inline),p=s("ol",{"data-comments":""}),P=y("load-more",i.viewAll,{class:"kb-more",hidden:!0}),G=s("div",{class:"kb-sr","aria-live":"polite","data-live":""}),v=s("section",{class:"kb","data-kibitz-root":"","aria-label":i.comments,lang:b},s("header",{class:"kb-top"},I,se),de,le,s("div",{class:"kb-bar"},ce,s("div",{role:"tablist","aria-label":i.sortBy},w)),s("div",{role:"tabpanel",id:"kb-list"},p),P,G),Re(),v}function Re(){for(let e of w){let t=e.dataset.sort==E;e.setAttribute("aria-selected",String(t)),e.tabIndex=t?0:-1,t&&p.parentElement.setAttribute("aria-labelledby",e.id)}}function X(e){S=Math.max(0,e),I.setAttribute("data-count",String(S)),I.textContent=xe(S),se.hidden=S>0&&!!g(me())}function qe(e,t){Te(e.thread.closed),D=e.next,de.hidden=!A,le.hidden=A,X(e.thread.count),t||(p.textContent="");for(let n of e.comments)R(n.id)||p.appendChild(k(n,0));P.hidden=!D,P.textContent=U?i.more:i.viewAll}async function N(e){let t=++Y,n=new URLSearchParams({page:B,sort:E,limit:String(U?100:Be)});j&&n.set("filter","inline"),e&&D&&n.set("cursor",D),p.setAttribute("aria-busy","true");try{let r=await h("GET",`/api/v1/sites/${pe(L)}/comments?${n}`);t==Y&&qe(r,e)}catch(r){t==Y&&M(J(r))}finally{t==Y&&p.removeAttribute("aria-busy")}}async function Ie(){let e=/^#comment-(\d+)$/.exec(location.hash);if(!e)return;let t=R(e[1]);for(let n=0;!t&&D&&n<20;n++)U=!0,await N(!0),t=R(e[1]);if(t){for(let n of q("[data-highlighted]"))n.removeAttribute("data-highlighted");t.setAttribute("data-highlighted",""),t.scrollIntoView({block:"center"})}}function M(e){G.textContent=G.textContent==e?e+" ":e}function J(e){let t=e instanceof f?e.code:"";return t=="payload_too_large"?i.long:/_/.test(t)&&i[t]||i.oops}function at(e,t){if(e=="text"){if(/at most|too long/i.test(t))return i.long;if(/empty|at least|required/i.test(t))return i.needText}return e=="name"&&/empty|at least|required/i.test(t)?i.needName:(/^(name|email|url)$/.test(e)?i[e].replace(/ \(.*/,""):e)+" "+t.replace(/\.?$/,".")}function Pe(e,t){let n=e.querySelector(":scope>.kb-c");if(!n)return;let r=n.querySelector(".kb-note");r||n.lastElementChild.appendChild(r=s("p",{class:"kb-note",role:"alert"})),r.textContent=t}function ue(e,t){let n=t instanceof f?t:null,r=n&&n.code=="check"?n.errors.map(a=>[a.field,a.message]):n&&n.errors.length?n.errors.map(a=>[Ae[a.field]||"form",at(Ae[a.field]||a.field,a.message)]):[[n&&n.code=="payload_too_large"?"text":"form",J(t)]],o=null;for(let[a,d]of r){let l=e.querySelector(`[data-error-for="${a}"]`)||e.querySelector("[data-error-for=form]");l.textContent||(l.textContent=d);let c=e.elements.namedItem(a);c&&(c.setAttribute("aria-invalid","true"),o=o||c)}o&&o.focus()}function Ne(e){for(let t of q("[data-error-for]",e))t.textContent="";for(let t of q("[aria-invalid]",e))t.removeAttribute("aria-invalid")}var it=e=>e.closest("li[data-comment-id]").dataset.commentId,W=(e,t)=>(e.elements.namedItem(t)?.value||"").trim();async function st(e){e.preventDefault();let t=e.target,n=t.dataset.form,r=t.elements.namedItem("text").value;if(t.dataset.busy)return;if(Ne(t),!r.trim())return ue(t,Ke([["text",i.needText]]));let o=t.closest("li[data-comment-id]");t.dataset.busy="1";try{n=="edit"?await dt(o,r):await lt(t,o,r)}catch(a){a instanceof f&&a.code=="edit_window_closed"&&o&&$e(o.firstElementChild),ue(t,a)}finally{delete t.dataset.busy}}function Ke(e){return new f(0,"check",e.map(([t,n])=>({field:t,message:n})))}async function lt(e,t,n){let r={name:W(e,"name"),email:W(e,"email"),url:W(e,"url")},o=W(e,"notify"),a=[];if(r.name||a.push(["name",i.needName]),o!="none"&&!r.email&&a.push(["email",i.needEmail]),a.length)throw Ke(a);let l=v.getRootNode().host.dataset,c=await h("POST",`/api/v1/sites/${pe(L)}/comments`,{page:B,title:(l.title||document.title).slice(0,300)||null,url:l.url||location.origin+location.pathname,parent:t?t.dataset.commentId:null,text:n,author:{name:r.name,email:r.email||null,url:r.url||null},notify:o}),m=c.comment;u("author",JSON.stringify({...r,notify:o})),c.reader&&u("reader",c.reader),u("token:"+m.id,JSON.stringify({token:c.token,created:Date.now(),text:n})),u(me(),JSON.stringify([].concat(C(me())||[],m.id)));let K=R(m.id);if(X(S+(c.status=="pending"||K?0:1)),K?.remove(),t){let $=+(t.dataset.depth||0)+1,Q=t.querySelector(":scope>[data-replies]");Q||t.firstElementChild.after(Q=V([],$));let _e=Q.appendChild(k(m,$));Z(e),_e.firstElementChild.focus()}else p.insertBefore(k(m,0),p.firstChild),e.elements.namedItem("text").value="",Fe(e,"");M(c.status=="pending"?i.pending:i.posted)}async function dt(e,t){let n=e.dataset.commentId,r=x(n);if(!r)throw new f(403,"forbidden");let{comment:o}=await h("PATCH",`/api/v1/comments/${n}`,{text:t},r.token);u("token:"+n,JSON.stringify({...r,text:t}));let a=z(o);e.replaceChild(a,e.firstElementChild),a.querySelector("[data-action=edit]")?.focus(),M(i.saved)}function $e(e){for(let t of q("[data-action=edit],[data-action=delete]",e))t.remove()}function Fe(e,t){let n=e.querySelector("[data-preview]");n.textContent="",n.appendChild(F(t)),n.hidden=!t}function Z(e){let t=e.parentElement,n=e.dataset.form;e.remove();let r=t.querySelector("[data-body]");r&&(r.hidden=!1);let o=t.querySelector(`[data-action=${n}]`);o&&(o.setAttribute("aria-expanded","false"),o.focus())}function ct(e,t){let n=e.closest(".kb-main"),r=n.querySelector(":scope>form");if(r){let l=r.dataset.form;if(Z(r),l==t)return}let o=it(e),a=n.querySelector("[data-body]"),d=oe(t,t=="edit"?x(o)?.text??a.innerText:"");t=="edit"?(a.hidden=!0,a.after(d)):n.appendChild(d),e.setAttribute("aria-expanded","true"),d.elements.namedItem("text").focus()}async function mt(e){let t=e.target,n=t.closest("[data-sort]");if(n)return Oe(n.dataset.sort);if(t.closest("[data-filter]"))return j=!j,ce.setAttribute("aria-pressed",String(j)),N(!1);let r=t.closest("button[data-action]");if(!r)return;let o=r.closest("form"),a=r.closest("li[data-comment-id]"),d=a?a.dataset.commentId:"";if(!r.dataset.busy){r.dataset.busy="1";try{switch(r.dataset.action){case"preview":{Ne(o);let l=o.elements.namedItem("text").value,c=await h("POST",`/api/v1/sites/${pe(L)}/preview`,{text:l});return Fe(o,c.html)}case"cancel":return Z(o);case"reply":case"edit":return ct(r,r.dataset.action);case"upvote":case"downvote":return await ut(a,r.dataset.action=="upvote"?1:-1);case"delete":return await pt(a);case"flag":{let l=prompt(i.why);return!l||!l.trim()?void 0:(await h("POST",`/api/v1/comments/${d}/flag`,{reason:l.trim().slice(0,500)}),Pe(a,i.thanks))}case"load-more":return await ft();case"continue":return await gt(a,r)}}catch(l){o?ue(o,l):a?(l instanceof f&&l.code=="edit_window_closed"&&$e(a.firstElementChild),Pe(a,J(l))):M(J(l))}finally{delete r.dataset.busy}}}function Oe(e){e!=E&&(E=e,u("sort",e),Re(),N(!1))}async function ut(e,t){let n=e.dataset.commentId,r=g("vote:"+n)==String(t)?0:t,o=await h("POST",`/api/v1/comments/${n}/vote`,{value:r});u("vote:"+n,o.value?String(o.value):null);let a=e.firstElementChild,d=a.querySelector("[data-score]");d.textContent=String(o.score),d.title=`+${o.up} / −${o.down}`;for(let l of q("[data-action=upvote],[data-action=downvote]",a))l.setAttribute("aria-pressed",String((l.dataset.action=="upvote"?1:-1)==o.value))}async function pt(e){let t=e.dataset.commentId,n=x(t);if(!n||!confirm(i.sure))return;if(await h("DELETE",`/api/v1/comments/${t}`,void 0,n.token),u("token:"+t,null),!e.isConnected||e.hasAttribute("data-deleted"))return M(i.gone);X(S-1);let r=I;if(e.querySelector(":scope>[data-replies]>li,:scope>[data-action=continue]"))e.setAttribute("data-deleted",""),e.replaceChild(r=z({deleted:!0}),e.firstElementChild);else{let o=e.parentElement.closest("li");o&&(r=o.firstElementChild),e.remove()}r.focus(),M(i.gone)}async function ft(){let e=p.children.length;U=!0,await N(!0);let t=p.children[e];P.hidden&&t&&t.firstElementChild.focus()}async function gt(e,t){let n=new URLSearchParams({sort:E=="votes"?"votes":"oldest"});t.dataset.cursor&&n.set("cursor",t.dataset.cursor);let r=await h("GET",`/api/v1/comments/${e.dataset.commentId}/replies?${n}`),o=+(e.dataset.depth||0)+1,a=e.querySelector(":scope>[data-replies]");a||e.insertBefore(a=V([],o),t);let d=null;for(let l of r.comments){if(R(l.id))continue;let c=a.appendChild(k(l,o));d=d||c}r.next?(t.dataset.cursor=r.next,t.textContent=i.more):(t.remove(),d&&d.firstElementChild.focus())}function bt(e){let t=e.target;if(t.getAttribute("role")=="tab"){let n=w.indexOf(t),r={ArrowRight:n+1,ArrowLeft:n-1}[e.key];if(r===void 0)return;e.preventDefault();let o=w[(r+w.length)%w.length];o.focus(),Oe(o.dataset.sort)}else if(e.key=="Escape"){let n=t.closest("form");n&&n.dataset.form!="main"&&Z(n)}}document.readyState=="loading"?document.addEventListener("DOMContentLoaded",ze):ze();})();
