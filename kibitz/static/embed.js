"use strict";(()=>{var V={};function h(e){try{return localStorage.getItem("kibitz:"+e)}catch{return V[e]??null}}function S(e,t){try{t==null?localStorage.removeItem("kibitz:"+e):localStorage.setItem("kibitz:"+e,t)}catch{t==null?delete V[e]:V[e]=t}}function W(e){try{return JSON.parse(h(e)||"null")}catch{return null}}var Ge=15*6e4;function _(e){return W("token:"+e)}function ue(e){let t=_(e);return t?Math.max(0,t.created+Ge-Date.now()):0}var y=class extends Error{constructor(n,r,i=[],l=0){super(r);this.status=n;this.code=r;this.errors=i;this.retry=l}},pe="",fe=e=>pe=e,Ue=12e4;async function be(e,t,n,r){let i={},l=Number(h("wrote"))||0;e=="GET"&&Date.now()-l<Ue&&(t+=(t.includes("?")?"&":"?")+"fresh="+l),n!==void 0&&(i["Content-Type"]="application/json");let s=h("reader");e!="GET"&&s&&(i["X-Kibitz-Reader"]=s),r&&(i.Authorization="Bearer "+r);let d;try{d=await fetch(pe+t,{method:e,headers:i,body:n===void 0?null:JSON.stringify(n),cache:"no-cache"})}catch{throw new y(0,"network")}e!="GET"&&d.ok&&!t.endsWith("/preview")&&S("wrote",String(Date.now()));let c=d.headers.get("X-Kibitz-Reader");c&&S("reader",c);let b=d.status==204?null:await d.json().catch(()=>null);if(!d.ok){let q=Number(d.headers.get("Retry-After"))||0;throw new y(d.status,b&&b.code||"",b&&b.errors||[],q)}return b}function o(e,t,...n){let r=document.createElement(e);for(let i in t){let l=t[i];l===!0?r.setAttribute(i,""):l!=null&&l!==!1&&r.setAttribute(i,String(l))}return ge(r,n),r}function ge(e,t){for(let n of t)Array.isArray(n)?ge(e,n):(n||n==="")&&e.appendChild(typeof n=="string"?document.createTextNode(n):n)}function he(e){let t="http://www.w3.org/2000/svg",n=document.createElementNS(t,"svg"),r=document.createElementNS(t,"path");return n.setAttribute("viewBox","0 0 16 16"),n.setAttribute("aria-hidden","true"),r.setAttribute("d",e?"M8 3l6 8H2z":"M8 13L2 5h12z"),n.appendChild(r),n}var G={one:"% comment",other:"% comments",comments:"Comments",invite:"Would love your thoughts, please comment.",first:"Be the first to comment.",notify:"Notify of",none:"—",replies:"new replies to my comments",all:"all new follow-up comments",name:"Name",email:"Email (optional)",url:"Website (optional)",text:"Your comment",placeholder:"Join the discussion…",preview:"Preview",post:"Post comment",reply:"Reply",cancel:"Cancel",save:"Save",edit:"Edit",del:"Delete",flag:"Report",newest:"Newest",oldest:"Oldest",votes:"Most voted",sortBy:"Sort comments",inline:"Inline feedback",noInline:"No inline feedback yet: nobody has commented on a passage of this article.",viewAll:"View all % comments",more:"Load more",cont:"Continue this thread",tomb:"This comment was deleted.",edited:"edited",up:"Upvote",down:"Downvote",pinned:"Pinned",held:"Awaiting moderation",featured:"Featured",byMod:"edited by a moderator",closed:"Comments are closed.",follow:"Follow",off:"Comments are unavailable right now.",updates:"updates to this story"},Ye={de:`% Kommentar
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
Aktualisierungen dieses Artikels`,fr:`% commentaire
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
mises à jour de cet article`,es:`% comentario
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
actualizaciones de esta noticia`,tr:`% yorum
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
bu habere dair güncellemeler`},a=G,p="en";function xe(e){let t=(e.dataset.lang||document.documentElement.lang||"").toLowerCase().split(/[-_]/)[0]||"",n=Ye[t];if(!n)return;p=t;let r=Object.keys(G);a={...G},n.split(`
`).forEach((i,l)=>a[r[l]]=i)}var U=e=>e<1e3?String(e):e.toLocaleString(p);function ke(e){return(new Intl.PluralRules(p).select(e)=="one"?a.one:a.other).replace("%",U(e))}var Je="nofollow ugc noopener noreferrer",Xe={p:[],br:[],em:[],strong:[],s:[],del:[],code:["class"],pre:[],blockquote:[],ul:[],ol:["start"],li:[],a:["href","title","rel"],hr:[],img:["src","alt","title"]},Qe=/^[^\s\x00-\x1f\x7f-\x9f\\]+$/,Ze={"a.href":/^(https?:\/\/[^/@?#]|mailto:[^/])/i,"img.src":/^https?:\/\/[^/@?#]/i,"code.class":/^language-[\w+#.-]{1,32}$/,"ol.start":/^\d{1,9}$/};function ye(e){let t=document.createElement("template");return t.innerHTML=e,ve(t.content),t.content}function ve(e){for(let t of Array.from(e.childNodes)){if(t.nodeType==3)continue;let n=t,r=t.nodeType==1?n.localName:"",i=n.namespaceURI=="http://www.w3.org/1999/xhtml"?Xe[r]:void 0;if(!i){e.removeChild(t);continue}for(let l of Array.from(n.attributes)){let s=r+"."+l.name,d=Ze[s];i.indexOf(l.name)>=0&&(!d||d.test(l.value))&&(s!="a.href"&&s!="img.src"||Qe.test(l.value))||n.removeAttribute(l.name)}r=="a"&&n.setAttribute("rel",Je),ve(n)}}var et=[["year",31536e3],["month",2592e3],["week",604800],["day",86400],["hour",3600],["minute",60]],v={},Y,J=[];function D(e){let t=(Date.now()-Date.parse(e))/1e3;for(let[n,r]of et)if(t>=r)return(v.a||(v.a=new Intl.RelativeTimeFormat(p))).format(-Math.floor(t/r),n);return(v.n||(v.n=new Intl.RelativeTimeFormat(p,{numeric:"auto"}))).format(0,"second")}function P(e,t){return Y?e.title=Y.format(new Date(t)):J.push([e,t])==1&&requestAnimationFrame(()=>setTimeout(()=>{Y=new Intl.DateTimeFormat(p,{dateStyle:"long",timeStyle:"short"});for(let[n,r]of J)P(n,r);J=[]})),e}var Ee=5,tt=0,nt=e=>e<0?"−"+-e:String(e);function f(e,t,n){return o("button",{type:"button","data-action":e,...n},t)}function rt(e){return P(o("time",{datetime:e},D(e)),e)}function ot(e){let t=o("div",{class:"kb-body","data-body":""});return t.appendChild(ye(e)),t}function we(e,t,n){let r=o("button",{type:"button",class:"kb-vote","data-action":t>0?"upvote":"downvote","aria-label":t>0?a.up:a.down,"aria-pressed":String(h("vote:"+e.id)==String(t)),disabled:n});return r.appendChild(he(t>0)),r}function at(e){let{name:t,url:n}=e.author;return n&&/^https?:\/\//i.test(n)?o("a",{class:"kb-name","data-author":"",href:n,rel:"nofollow ugc noopener noreferrer"},t):o("span",{class:"kb-name","data-author":""},t)}function B(e){if(e.deleted)return o("article",{class:"kb-c",tabindex:-1},o("span",{class:"kb-av"}),o("p",{class:"kb-tomb"},a.tomb));let t=!!_(e.id),n=e.status=="pending",r=!n&&ue(e.id)>0;return o("article",{class:"kb-c",tabindex:-1},e.author.avatar?o("img",{class:"kb-av","data-avatar":"",alt:"",src:e.author.avatar,width:40,height:40}):o("span",{class:"kb-av"}),o("div",{class:"kb-main"},o("header",{class:"kb-meta"},at(e),rt(e.created),e.edited&&P(o("span",{class:"kb-ed","data-mod-edited":e.edited_by_moderator},e.edited_by_moderator?a.byMod:a.edited),e.edited),e.pinned&&o("span",{class:"kb-tag"},a.pinned),e.featured&&o("span",{class:"kb-tag","data-featured":""},a.featured),n&&o("span",{class:"kb-tag"},a.held)),ot(e.html),o("div",{class:"kb-acts"},we(e,1,t),o("span",{class:"kb-score","data-score":"",title:`+${e.up} / −${e.down}`},nt(e.score)),we(e,-1,t),f("reply",a.reply,{"aria-expanded":"false"}),r&&f("edit",a.edit),r&&f("delete",a.del),!t&&f("flag",a.flag))))}function L(e,t){let n=o("li",{"data-comment-id":e.id,"data-deleted":e.deleted,"data-depth":t,"data-pending":e.status=="pending"});return n.appendChild(B(e)),e.replies.length&&n.appendChild(X(e.replies,t+1)),e.reply_count>e.replies.length&&n.appendChild(f("continue",t>=Ee?a.cont:a.more,{class:"kb-link"})),n}function X(e,t){return o("ol",{"data-replies":"",class:t>Ee?"kb-flat":null},e.map(n=>L(n,t)))}function Se(e,t){return o("div",{class:"kb-err",id:e+t+"-err",role:"alert","data-error-for":t})}function T(e,t,n,r,i=""){return r.id=e+t,r.name=t,t!="notify"&&r.setAttribute("aria-describedby",e+t+"-err"),o("div",{class:"kb-f "+i},o("label",{for:e+t,class:t=="text"?"kb-sr":null},n),r,t!="notify"&&Se(e,t))}function Q(e,t=""){let n="kb"+tt+++"-",r=W("author")||{},i=(b,q,_e)=>o("input",{type:q,value:r[b]||"",autocomplete:_e,maxlength:b=="name"?64:null}),l=o("textarea",{rows:e=="main"?4:3,placeholder:a.placeholder});l.value=t;let s=o("select",null,o("option",{value:"none"},a.none),o("option",{value:"replies"},a.replies),o("option",{value:"all"},a.all),o("option",{value:"updates"},a.updates)),d=r.notify;d&&(s.value=d);let c=e=="edit";return o("form",{class:"kb-form kb-"+e,"data-form":e,novalidate:!0},!c&&o("div",{class:"kb-notify"},T(n,"notify",a.notify,s,"kb-inl")),T(n,"text",a.text,l),!c&&o("div",{class:"kb-row"},T(n,"name",a.name,i("name","text","name")),T(n,"email",a.email,i("email","email","email")),T(n,"url",a.url,i("url","url","url"))),o("div",{class:"kb-preview kb-body","data-preview":"",hidden:!0}),Se(n,"form"),o("div",{class:"kb-btns"},e!="main"&&f("cancel",a.cancel,{class:"kb-ghost"}),!c&&f("preview",a.preview,{class:"kb-ghost"}),o("button",{type:"submit",class:"kb-primary"},c?a.save:e=="main"?a.post:a.reply)))}function Te(e){let t=(i,l)=>e.querySelector(":scope>header "+i)?.getAttribute(l)||"",n=i=>e.querySelector(":scope>"+i)?.textContent||"",r=Array.from(e.querySelectorAll(":scope>.kibitz-replies>article"),Te);return{id:e.getAttribute("data-comment-id")||"",author:{name:n("header [itemprop=name]"),avatar:t("img","src")||null,url:t("a[itemprop=url]","href")||null},html:e.querySelector(":scope>.kibitz-text")?.innerHTML||"",created:t("time","datetime"),score:+n("header .kibitz-score").replace("−","-"),up:+t("[itemprop=upvoteCount]","content"),down:+t("[itemprop=downvoteCount]","content"),replies:r,reply_count:r.length,deleted:e.classList.contains("kibitz-deleted")}}function Le(e){return{thread:{count:+(e.querySelector("[data-count]")?.getAttribute("data-count")||0),closed:!!e.querySelector(".kibitz-closed")},comments:Array.from(e.querySelectorAll(":scope>article"),Te),next:null}}var it="#fff,#1f2328,#57606a,#d0d7de,#f6f8fa,#0a6e52,#fff,#fff5c2,#cf222e",st="#16181c,#e6e8eb,#9aa5b1,#3a4049,#1f2329,#4fd1a5,#0b1f17,#4a4216,#ff8182",Ae=["bg","fg","muted","border","surface","accent","on-accent","mark","error"],Me=e=>e.split(",").map((t,n)=>`--${Ae[n]}:var(--kb-${Ae[n]},${t});`).join(""),Z=`
:host{all:initial;display:block}
[hidden]{display:none!important}
.kb{${Me(it)}color-scheme:light;background:var(--bg);color:var(--fg);border-radius:var(--kb-radius,8px);
font:15px/1.55 var(--kb-font,system-ui,-apple-system,"Segoe UI",sans-serif);
padding:20px;text-align:start;overflow-wrap:anywhere}
.kb[data-theme=dark]{${Me(st)}color-scheme:dark}
.kb *{box-sizing:border-box}
.kb-sr{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.kb-top{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 16px;border-bottom:2px solid var(--accent);
padding-bottom:8px;margin-bottom:12px}
h2{font-size:1.25em;margin:0;font-weight:700}
.kb-invite{margin:0;color:var(--muted)}
.kb-follow{margin-inline-start:auto}
.kb-off,.kb-empty{color:var(--muted);margin:12px 0}
.kb[data-closed] :is([data-action=reply],[data-form=reply],[data-action=follow],[data-form=follow],[data-follow-done]),
.kb[data-down] :is(form,.kb-bar,.kb-follow,.kb-invite,.kb-more,.kb-acts){display:none}
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
button,select{min-width:24px;min-height:24px}
@media (pointer:coarse){button,select,input{min-width:44px;min-height:44px}}
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
a.kb-name{display:inline-block;min-height:24px}
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
.kb-vote{display:inline-flex;align-items:center;justify-content:center;padding:6px}
.kb-vote svg{width:14px;height:14px;fill:currentColor}
.kb-vote[aria-pressed=true]{color:var(--accent)}
.kb-score{min-width:1.6em;text-align:center;font-weight:700;color:var(--fg)}
.kb-note{margin:4px 0}
.kb-link,.kb-more{color:var(--accent);font-weight:600;padding:6px 8px}
.kb-more{display:block;width:100%;margin-top:12px;border:1px solid var(--border);padding:10px}
.kb-closed{color:var(--muted);font-style:italic}
@media (max-width:480px){.kb{padding:12px}[data-replies]{margin-inline-start:8px;padding-inline-start:8px}.kb-av{width:32px;height:32px}}
`;var lt=0,He=0,Ce=0,g={},ee={},A=()=>++lt;function ze(){let e=He;for(let t in g){let[n,r]=g[t];e+=(n?1:0)-(r?1:0)}return Math.max(0,e)}function K(e,t,n){if(n===void 0)Ce=A();else if(Ce>n)return!1;He=e;for(let r in g){let i=g[r];i[0]<t&&(i[0]=0),i[1]<t&&(i[1]=0),!i[0]&&!i[1]&&delete g[r]}return!0}function Re(e,t){ee[e]=t?"d":"c";let n=g[e];n&&(n[0]=0,t&&delete g[e])}function Ie(e,t){if(t?ee[e]=="d":ee[e])return;let n=g[e]||(g[e]=[0,0]);n[t?1:0]=A()}var Be=10,Ke=["newest","oldest","votes"],ne=document.currentScript||Array.from(document.querySelectorAll("script[src]")).find(e=>/\/embed\.js([?#]|$)/.test(e.src)),m,u,C,$,re,oe,ae,ie,H,j,se=[],x,le,F=0,Ne=!1,te,z="",R="",Fe="",k="newest",M=!1,O=!1,de=!1,I=null,dt=encodeURIComponent,ct=()=>"posted:"+z+" "+R,w=e=>u.querySelector(`li[data-comment-id="${e}"]`),$e=e=>ne.src.replace(/embed\.js.*/,e);function De(){let e=document.getElementById("kibitz");if(!e||e.shadowRoot||!ne)return;fe(Fe=ne.src.replace(/\/embed\.js([?#].*)?$/,"")),z=e.dataset.site||"",R=e.dataset.page||location.pathname.replace(/(.)\/+$/,"$1");let t=h("sort");k=Ke.indexOf(t)>=0?t:"newest",xe(e);let n=e.querySelector("section[data-kibitz-ssr]"),r=e.attachShadow({mode:"open"});if(r.adoptedStyleSheets&&window.CSSStyleSheet&&"replaceSync"in CSSStyleSheet.prototype){let s=new CSSStyleSheet;s.replaceSync(Z),r.adoptedStyleSheets=[s]}else r.appendChild(o("style",null,Z));r.appendChild(mt());let i=matchMedia("(prefers-color-scheme: dark)"),l=()=>{let s=e.dataset.theme;m.dataset.theme=s=="dark"||s!="light"&&i.matches?"dark":"light"};if(l(),i.addEventListener?.("change",l),n){let s=Le(n);n.remove(),n.getAttribute("data-sort")==k&&(s.comments=s.comments.slice(0,Be),K(s.thread.count,0,0),qe(s,!1))}m.addEventListener("click",ut),m.addEventListener("submit",s=>{s.preventDefault();let d=s.target;N(c=>c.submit(d))}),m.addEventListener("keydown",bt),m.addEventListener("input",s=>{let d=s.target;N(c=>c.input(d))});for(let s of["focusin","pointerdown"])m.addEventListener(s,()=>Ve().catch(()=>{}));window.addEventListener("hashchange",Pe),E(!1).then(s=>{if(s){Pe(),window.kibitzLive={site:z,page:R,root:m,now:A,count:(d,c,b)=>K(d,c,b)&&ce(),saw:Re,closed:Oe,comment:L,article:B,lang:p,updates:se,ago:D};for(let d of["live.js","anchor.js"])document.head.appendChild(o("script",{src:$e(d),async:!0}))}})}function mt(){return C=o("h2",{tabindex:-1},a.comments),$=o("p",{class:"kb-invite","data-invite":""},a.invite),re=Q("main"),oe=o("p",{class:"kb-closed",hidden:!0},a.closed),ae=o("p",{class:"kb-off",role:"status","data-unavailable":"",hidden:!0},a.off),x=Ke.map(e=>o("button",{type:"button",role:"tab",id:"kb-tab-"+e,"data-sort":e,"aria-controls":"kb-list"},a[e])),le=o("button",{type:"button","data-filter":"inline","aria-pressed":"false"},a.inline),u=o("ol",{"data-comments":""}),ie=o("p",{class:"kb-empty","data-empty":"",hidden:!0},a.noInline),H=f("load-more",a.more,{class:"kb-more",hidden:!0}),j=o("div",{class:"kb-sr","aria-live":"polite","data-live":""}),m=o("section",{class:"kb","data-kibitz-root":"","aria-label":a.comments,lang:p},o("header",{class:"kb-top"},C,$,f("follow",a.follow,{class:"kb-ghost kb-follow","aria-expanded":"false"})),ae,oe,re,o("div",{class:"kb-bar"},le,o("div",{role:"tablist","aria-label":a.sortBy},x)),o("div",{role:"tabpanel",id:"kb-list"},u,ie),H,j),je(),m}function je(){for(let e of x){let t=e.dataset.sort==k;e.setAttribute("aria-selected",String(t)),e.tabIndex=t?0:-1,t&&u.parentElement.setAttribute("aria-labelledby",e.id)}}function ce(){let e=ze();C.setAttribute("data-count",String(e)),C.textContent=ke(e),$.textContent=de?a.closed:e?a.invite:a.first,$.hidden=de||e>0&&!!h(ct()),H.textContent=O?a.more:a.viewAll.replace("%",U(e))}function Oe(e){de=e,m.toggleAttribute("data-closed",e),oe.hidden=!e,re.hidden=e,ce()}function qe(e,t){I=e.next,Oe(e.thread.closed),t||(u.textContent=""),se=e.updates||se;for(let n of e.comments)w(n.id)||u.appendChild(L(n,0));H.hidden=!I,ie.hidden=!M||!!u.children.length}async function E(e,t){let n=++F,r=new URLSearchParams({page:R,sort:k,limit:String(O?100:Be)});M&&r.set("filter","inline"),e&&I&&r.set("cursor",I),u.setAttribute("aria-busy","true");let i=A();try{let l=await be("GET",`/api/v1/sites/${dt(z)}/comments?${r}`);return n!=F?!0:!K(l.thread.count,i,i)&&!e&&!t?E(!1,!0):(qe(l,e),Ne=!0)}catch(l){return n!=F?!1:Ne?(me(a.off),!1):(m.setAttribute("data-down",""),ae.hidden=!1,l instanceof y&&!l.status&&N(s=>s.diagnose()),!1)}finally{n==F&&u.removeAttribute("aria-busy")}}async function Pe(){let e=/^#comment-(\d+)$/.exec(location.hash);if(!e)return;let t=w(e[1]);for(let n=0;!t&&I&&n<20;n++)O=!0,await E(!0),t=w(e[1]);if(t){for(let n of m.querySelectorAll("[data-highlighted]"))n.removeAttribute("data-highlighted");t.setAttribute("data-highlighted",""),t.scrollIntoView({block:"center"})}}function me(e){j.textContent=j.textContent==e?e+" ":e}function Ve(){return te||(te=new Promise((e,t)=>{window.kibitzAct={site:z,page:R,base:Fe,root:m,list:u,heading:C,lang:p,t:a,find:w,comment:L,article:B,replies:X,form:Q,button:f,announce:me,mine:(r,i)=>{Ie(r,i),ce()},sort:()=>k,ready:e};let n=o("script",{src:$e("actions.js"),async:!0});n.onerror=()=>{te=void 0,n.remove(),t(new Error("actions.js"))},document.head.appendChild(n)}))}function N(e){Ve().then(e).catch(()=>me(a.off))}function ut(e){let t=e.target,n=t.closest("[data-sort]");if(n)return We(n.dataset.sort);if(t.closest("[data-filter]")){M=!M,le.setAttribute("aria-pressed",String(M)),E(!1);return}let r=t.closest("button[data-action]");r&&(r.dataset.action=="load-more"?ft():N(i=>i.click(pt(r))))}function pt(e){let t=e.closest("li[data-comment-id]")?.dataset.commentId;return e.isConnected||!t?e:Array.from(w(t)?.querySelectorAll(`button[data-action="${e.dataset.action}"]`)??[]).find(r=>r.closest("li[data-comment-id]")==w(t))??e}function We(e){e!=k&&(k=e,S("sort",e),je(),E(!1))}async function ft(){let e=u.children.length;O=!0,await E(!0);let t=u.children[e];H.hidden&&t&&t.firstElementChild.focus()}function bt(e){let t=e.target;if(t.getAttribute("role")=="tab"){let n=x.indexOf(t),r={ArrowRight:n+1,ArrowLeft:n-1}[e.key];if(r===void 0)return;e.preventDefault();let i=x[(r+x.length)%x.length];i.focus(),We(i.dataset.sort)}else e.key=="Escape"&&N(n=>n.escape(t))}document.readyState=="loading"?document.addEventListener("DOMContentLoaded",De):De();})();
