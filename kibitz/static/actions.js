"use strict";(()=>{var B={};function v(e){try{return localStorage.getItem("kibitz:"+e)}catch{return B[e]??null}}function f(e,t){try{t==null?localStorage.removeItem("kibitz:"+e):localStorage.setItem("kibitz:"+e,t)}catch{t==null?delete B[e]:B[e]=t}}function T(e){try{return JSON.parse(v(e)||"null")}catch{return null}}var qe=15*6e4;function H(e){return T("token:"+e)}var g=class extends Error{constructor(n,o,r=[],a=0){super(o);this.status=n;this.code=o;this.errors=r;this.retry=a}},W="",Y=e=>W=e,ce=12e4;async function h(e,t,n,o){let r={},a=Number(v("wrote"))||0;e=="GET"&&Date.now()-a<ce&&(t+=(t.includes("?")?"&":"?")+"fresh="+a),n!==void 0&&(r["Content-Type"]="application/json");let c=v("reader"),d=v("session");e!="GET"&&c&&(r["X-Kibitz-Reader"]=c),d&&(e!="GET"||t.startsWith("/api/v1/me"))&&(r["X-Kibitz-Session"]=d),o&&(r.Authorization="Bearer "+o);let u;try{u=await fetch(W+t,{method:e,headers:r,body:n===void 0?null:JSON.stringify(n),cache:"no-cache"})}catch{throw new g(0,"network")}e!="GET"&&u.ok&&!t.endsWith("/preview")&&f("wrote",String(Date.now()));let y=u.headers.get("X-Kibitz-Reader");y&&f("reader",y);let m=u.status==204?null:await u.json().catch(()=>null);if(!u.ok){m&&m.code=="session_invalid"&&f("session",null);let p=Number(u.headers.get("Retry-After"))||0;throw new g(u.status,m&&m.code||"",m&&m.errors||[],p)}return m}function l(e,t,...n){let o=document.createElement(e);for(let r in t){let a=t[r];a===!0?o.setAttribute(r,""):a!=null&&a!==!1&&o.setAttribute(r,String(a))}return J(o,n),o}function J(e,t){for(let n of t)Array.isArray(n)?J(e,n):(n||n==="")&&e.appendChild(typeof n=="string"?document.createTextNode(n):n)}var V={posted:"Your comment was posted.",pending:"Your comment awaits moderation.",saved:"Your comment was updated.",gone:"Your comment was deleted.",sure:"Delete this comment?",sureText:"It is removed for everyone; this cannot be undone.",report:"Report this comment",why:"Why report this comment?",needWhy:"Please say why.",thanks:"Thank you for the report.",needText:"Please write a comment first.",needName:"Please enter your name.",needEmail:"Please enter your email to be notified.",long:"Your comment is too long: 10,000 characters at most.",rate_limited:"Too fast: please wait a moment and try again.",wait:"Too fast: please try again %.",thread_closed:"This discussion is closed.",edit_window_closed:"The time to edit or delete this comment is over.",origin_not_allowed:"This website may not post comments here.",vote_limit:"Too many votes on this comment have come from your network already.",banned:"The moderators of this site have blocked your comments.",own_comment:"You cannot vote on your own comment.",not_found:"This comment is no longer there.",forbidden:"This comment can no longer be changed from this browser.",unavailable:"The comments are busy right now. Please try again in a moment.",network:"Could not reach the comments. Check your connection and try again.",oops:"Something went wrong. Please try again.",replyPh:"Write a reply…",confirm:"Check your inbox to confirm.",digest:"How often",instant:"one mail per comment",daily:"a daily digest",followEmail:"Your email",followHint:"Get an email when someone comments on this article."},de={de:`Ihr Kommentar wurde veröffentlicht.
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
Erhalten Sie eine E-Mail, wenn jemand diesen Artikel kommentiert.`,fr:`Votre commentaire a été publié.
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
Recevez un e-mail quand quelqu’un commente cet article.`,es:`Tu comentario se ha publicado.
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
Recibe un correo cuando alguien comente este artículo.`,tr:`Yorumunuz yayımlandı.
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
Bu makaleye yorum yapıldığında e-posta alın.`};function G(e){let t={...V},n=Object.keys(V);return de[e]?.split(`
`).forEach((o,r)=>t[n[r]]=o),t}var i,s;function j(e){i=e,s=G(e.lang),Y(e.base)}var w=encodeURIComponent,b=(e,t)=>(e.elements.namedItem(t)?.value||"").trim(),P=()=>i.root.getRootNode().activeElement||document.activeElement;var me=(e,t)=>`add "${e}" to origins in the [[sites]] table with id = "${t}" in kibitz.toml (or to that site's "origins" in KIBITZ_SITES), then restart Kibitz; for the demo, start it with: kibitz demo --origin ${e}`;function ue(e){return e=e.toLowerCase().replace(/^\[|\]$/g,""),!e||e=="localhost"||/\.(localhost|local)\.?$/.test(e)?!0:/^\d+\.\d+\.\d+\.\d+$/.test(e)?/^(127\.|10\.|192\.168\.|169\.254\.|172\.(1[6-9]|2\d|3[01])\.)/.test(e):e=="::1"||/^(f[cd][0-9a-f]{0,2}|fe[89ab][0-9a-f]?):/.test(e)}async function Z(){let e=i.site,t;try{let o=await fetch(`${i.base}/api/v1/sites/${w(e)}/embed-check`,{cache:"no-store",credentials:"omit"});if(o.status==404)t=`Kibitz at ${i.base} has no site "${e}": check data-site on the #kibitz element, or add a [[sites]] table with id = "${e}" to kibitz.toml (or KIBITZ_SITES).`;else{let r=await o.json();if(r.allowed)return;let a=r.origin||location.origin;t=`Kibitz refused this page's origin ${a}: it is not one of the origins of site "${e}" (setting ${r.setting}). To show comments here, ${me(a,e)}`}}catch{t=`Kibitz did not answer at ${i.base}: is it running, and can this page reach it?`}if(console.warn(t),!ue(location.hostname))return;i.root.querySelector("[data-unavailable]").after(l("div",{class:"kb-owner",role:"alert","data-embed-problem":""},l("p",null,l("strong",null,"For the site's owner: "),t),l("p",null,"This note shows because the page is served from a local or private address; readers of a public site see only the sentence above.")))}var fe=0;function $(e){let t=P(),n="kb-dlg"+fe++,o=e.field?l("textarea",{id:n+"f",rows:3,maxlength:500,"aria-describedby":n+"e"}):null,r=l("p",{class:"kb-err",id:n+"e",role:"alert"}),a=l("button",{type:"button",class:"kb-ghost","data-dialog":"cancel"},i.t.cancel),c=l("button",{type:"button",class:"kb-primary","data-dialog":"ok"},e.ok),d=l("dialog",{class:"kb-dlg",role:e.alert?"alertdialog":"dialog","aria-modal":"true","aria-labelledby":n+"t","aria-describedby":e.text?n+"d":null},l("h3",{id:n+"t"},e.title),e.text&&l("p",{id:n+"d"},e.text),o&&l("label",{for:n+"f"},e.field),o,r,l("div",{class:"kb-btns"},a,c));return i.root.appendChild(d),new Promise(u=>{let y=m=>{d.close(),d.remove(),t?.focus(),u(m)};d.addEventListener("cancel",m=>{m.preventDefault(),y(null)}),d.addEventListener("keydown",m=>{if(m.stopPropagation(),m.key=="Escape")m.preventDefault(),y(null);else if(m.key=="Tab"){let p=o?[o,a,c]:[a,c],k=p.indexOf(P()),E=m.shiftKey?k<=0?p.length-1:-1:k==p.length-1||k<0?0:-1;E>=0&&(m.preventDefault(),p[E].focus())}}),a.addEventListener("click",()=>y(null)),c.addEventListener("click",()=>{let m=o?o.value.trim():"";if(o&&!m)return r.textContent=e.need||"",o.setAttribute("aria-invalid","true"),o.focus();y(m)}),d.showModal(),(o||(e.alert?a:c)).focus()})}var U={text:"text","author.name":"name","author.email":"email","author.url":"url",email:"email"},pe="rate_limited thread_closed edit_window_closed origin_not_allowed vote_limit banned own_comment not_found forbidden unavailable".split(" ");function ge(e){let t=e>90;return new Intl.RelativeTimeFormat(i.lang).format(t?Math.ceil(e/60):e,t?"minute":"second")}function z(e){if(!(e instanceof g))return s.oops;let t=e.code=="unauthorized"?"forbidden":e.code;return t=="rate_limited"&&e.retry>0?s.wait.replace("%",ge(e.retry)):t=="payload_too_large"?s.long:e.status?pe.indexOf(t)>=0?s[t]:s.oops:s.network}function he(e,t){if(e=="text"){if(/at most|too long/i.test(t))return s.long;if(/empty|at least|required/i.test(t))return s.needText}return e=="name"&&/empty|at least|required/i.test(t)?s.needName:(/^(name|email|url)$/.test(e)?i.t[e].replace(/ \(.*/,""):e)+" "+t.replace(/\.?$/,".")}function x(e){return new g(0,"check",e.map(([t,n])=>({field:t,message:n})))}function N(e,t){let n=t instanceof g?t:null,o=n&&n.code=="check"?n.errors.map(a=>[a.field,a.message]):n&&n.errors.length?n.errors.map(a=>[U[a.field]||"form",he(U[a.field]||a.field,a.message)]):[[n&&n.code=="payload_too_large"?"text":"form",z(t)]],r=null;for(let[a,c]of o){let d=e.querySelector(`[data-error-for="${a}"]`)||e.querySelector("[data-error-for=form]");d.textContent||(d.textContent=c);let u=e.elements.namedItem(a);u&&(u.setAttribute("aria-invalid","true"),r=r||u)}r&&r.focus()}function K(e){for(let t of e.querySelectorAll("[data-error-for]"))t.textContent="";for(let t of e.querySelectorAll("[aria-invalid]"))t.removeAttribute("aria-invalid");e.querySelector("[data-confirm-note]")?.remove()}function I(e,t){let n=e.querySelector(":scope>.kb-c");if(!n)return;let o=n.querySelector(".kb-note");o||n.lastElementChild.appendChild(o=l("p",{class:"kb-note",role:"alert"})),o.textContent=t}function X(e){e.before(l("p",{class:"kb-note kb-ok",role:"status","data-confirm-note":""},s.confirm))}var ye=/^(name|email|url|notify|digest)$/,M=()=>T("author")||{};function Q(e){let t=l("select",{id:e,name:"digest","aria-label":s.digest},l("option",{value:"instant"},s.instant),l("option",{value:"daily"},s.daily));return t.value=M().digest=="daily"?"daily":"instant",t}function D(e){e.elements.namedItem("text")&&!e.elements.namedItem("hp")&&e.append(l("div",{class:"kb-hp","aria-hidden":"true"},l("input",{name:"hp",tabindex:"-1",autocomplete:"off"})));let t=e.elements.namedItem("notify");if(!t||e.elements.namedItem("digest"))return;let n=Q(t.id.replace(/notify$/,"digest"));n.hidden=t.value=="none",t.after(n)}function ee(e){let t=e,n=t.form;if(!(!n||!ye.test(t.name))&&(t.name=="notify"&&n.elements.namedItem("digest")?.toggleAttribute("hidden",t.value=="none"),f("author",JSON.stringify({...M(),[t.name]:t.value.trim()})),!(t.name=="notify"||t.name=="digest")))for(let o of i.root.querySelectorAll("form")){let r=o!=n&&o.elements.namedItem(t.name);r&&!r.matches(":focus")&&(r.value=t.value)}}function te(e){let t=i.root.querySelector("form[data-form=follow]");if(i.root.querySelector("[data-follow-done]")?.remove(),e.setAttribute("aria-expanded",String(!t)),t)return t.remove(),e.focus();let n="kb-follow-",o=l("input",{id:n+"email",name:"email",type:"email",autocomplete:"email",value:M().email||"","aria-describedby":n+"email-err"}),r=c=>l("div",{class:"kb-err",id:n+c+"-err",role:"alert","data-error-for":c}),a=l("form",{class:"kb-form kb-follow-form","data-form":"follow",novalidate:!0,"aria-label":i.t.follow},l("p",{class:"kb-hint"},s.followHint),l("div",{class:"kb-row"},l("div",{class:"kb-f"},l("label",{for:n+"email"},s.followEmail),o,r("email")),l("div",{class:"kb-f"},l("label",{for:n+"digest"},s.digest),Q(n+"digest"))),r("form"),l("div",{class:"kb-btns"},i.button("cancel",i.t.cancel,{class:"kb-ghost"}),l("button",{type:"submit",class:"kb-primary"},i.t.follow)));e.closest("header").after(a),o.focus()}async function ne(e){let t=b(e,"email");if(!t)throw x([["email",s.needEmail]]);let n=b(e,"digest");await h("POST",`/api/v1/sites/${w(i.site)}/subscriptions`,{email:t,topic:"thread",page:i.page,digest:n}),f("author",JSON.stringify({...M(),email:t,digest:n}));let o=l("p",{class:"kb-note kb-ok",role:"status","data-follow-done":""});e.replaceWith(o);let r=i.root.querySelector("[data-action=follow]");r.setAttribute("aria-expanded","false"),r.focus(),setTimeout(()=>o.textContent=s.confirm)}var be="nofollow ugc noopener noreferrer",we={p:[],br:[],em:[],strong:[],s:[],del:[],code:["class"],pre:[],blockquote:[],ul:[],ol:["start"],li:[],a:["href","title","rel"],hr:[],img:["src","alt","title"]},ve=/^[^\s\x00-\x1f\x7f-\x9f\\]+$/,ke={"a.href":/^(https?:\/\/[^/@?#]|mailto:[^/])/i,"img.src":/^https?:\/\/[^/@?#]/i,"code.class":/^language-[\w+#.-]{1,32}$/,"ol.start":/^\d{1,9}$/};function oe(e){let t=document.createElement("template");return t.innerHTML=e,re(t.content),t.content}function re(e){for(let t of Array.from(e.childNodes)){if(t.nodeType==3)continue;let n=t,o=t.nodeType==1?n.localName:"",r=n.namespaceURI=="http://www.w3.org/1999/xhtml"?we[o]:void 0;if(!r){e.removeChild(t);continue}for(let a of Array.from(n.attributes)){let c=o+"."+a.name,d=ke[c];r.indexOf(a.name)>=0&&(!d||d.test(a.value))&&(c!="a.href"&&c!="img.src"||ve.test(a.value))||n.removeAttribute(a.name)}o=="a"&&n.setAttribute("rel",be),re(n)}}var ie=`
.kb-dlg{border:1px solid var(--border);border-radius:10px;background:var(--bg);color:var(--fg);padding:18px 20px;
width:min(440px,calc(100vw - 32px));box-shadow:0 8px 32px #0005}
.kb-dlg::backdrop{background:#0007}
.kb-dlg h3{margin:0 0 8px;font-size:1.1em}
.kb-dlg p{margin:0 0 12px}
.kb-dlg label{display:block;margin-bottom:4px}
.kb-dlg .kb-btns{margin-top:12px}
.kb-follow-form{border:1px solid var(--border);border-radius:8px;padding:12px}
.kb-hint{margin:0;color:var(--muted)}
.kb-ok{color:var(--fg);font-weight:600}
.kb-notify select+select{margin-inline-start:4px}
.kb-owner{border:2px solid var(--error);border-radius:8px;padding:10px 14px;margin:0 0 16px;font-size:.93em}
.kb-owner p{margin:0 0 6px}
.kb-owner p:last-child{margin:0;color:var(--muted)}
.kb-hp{display:none}
`,S=window.kibitzAct;if(S){j(S);let e=S.root.getRootNode();if(e.adoptedStyleSheets&&"replaceSync"in CSSStyleSheet.prototype){let t=new CSSStyleSheet;t.replaceSync(ie),e.adoptedStyleSheets=[...e.adoptedStyleSheets,t]}else e.appendChild(l("style",null,ie));for(let t of S.root.querySelectorAll("form"))D(t);S.ready({click:He,submit:Te,input:ee,escape:ze,diagnose:Z})}var _=0,R=F();function F(){return h("GET",`/api/v1/sites/${w(i.site)}/form`).then(e=>(_=Date.now(),e.form),()=>null)}async function Ee(){Date.now()-_>36e5&&(R=F());let e=await R,t=_+2100-Date.now();return e&&t>0&&await new Promise(n=>setTimeout(n,t)),R=F(),e}var ae=()=>"posted:"+i.site+" "+i.page,C=e=>e.elements.namedItem("text").value;async function Te(e){if(e.dataset.busy)return;K(e);let t=e.closest("li[data-comment-id]");e.dataset.busy="1";try{if(e.dataset.form=="follow")await ne(e);else if(C(e).trim())e.dataset.form=="edit"?await Se(t,C(e)):await xe(e,t,C(e));else throw x([["text",s.needText]])}catch(n){n instanceof g&&n.code=="edit_window_closed"&&t&&se(t.firstElementChild),N(e,n)}finally{delete e.dataset.busy}}async function xe(e,t,n){let o=i.root.dataset.signedIn,r=o!=null?{name:o,email:"",url:""}:{name:b(e,"name"),email:b(e,"email"),url:b(e,"url")},a=b(e,"notify")||"none",c=b(e,"digest")||"instant",d=[];if(r.name||d.push(["name",s.needName]),a!="none"&&!r.email&&o==null&&d.push(["email",s.needEmail]),d.length)throw x(d);let u=await Ee(),y=i.root.getRootNode().host.dataset,m=await h("POST",`/api/v1/sites/${w(i.site)}/comments`,{page:i.page,title:(y.title||document.title).slice(0,300)||null,url:y.url||location.origin+location.pathname,parent:t?t.dataset.commentId:null,text:n,author:{name:r.name,email:r.email||null,url:r.url||null},notify:a,digest:c,hp:b(e,"hp")||null,form:u,anchor:t||!e.dataset.anchor?void 0:JSON.parse(e.dataset.anchor)});delete e.dataset.anchor;let p=m.comment,k=m.status=="pending";o==null&&f("author",JSON.stringify({...T("author"),...r,notify:a,digest:c})),m.reader&&f("reader",m.reader),f("token:"+p.id,JSON.stringify({token:m.token,created:Date.now(),text:n})),f(ae(),JSON.stringify([].concat(T(ae())||[],p.id))),k||i.mine(p.id,!1),i.find(p.id)?.remove();let E=a!="none"&&!!r.email,L;if(t){let O=+(t.dataset.depth||0)+1,q=t.querySelector(":scope>[data-replies]");q||t.firstElementChild.after(q=i.replies([],O)),L=q.appendChild(i.comment(p,O)),A(e),L.firstElementChild.focus(),E&&I(L,s.confirm)}else i.list.insertBefore(L=i.comment(p,0),i.list.firstChild),e.elements.namedItem("text").value="",le(e,""),E&&X(e.querySelector(".kb-btns"));i.announce((k?s.pending:s.posted)+(E?" "+s.confirm:""))}async function Se(e,t){let n=e.dataset.commentId,o=H(n);if(!o)throw new g(403,"forbidden");let{comment:r}=await h("PATCH",`/api/v1/comments/${n}`,{text:t},o.token);f("token:"+n,JSON.stringify({...o,text:t}));let a=i.article(r);e.replaceChild(a,e.firstElementChild),a.querySelector("[data-action=edit]")?.focus(),i.announce(s.saved)}function se(e){for(let t of e.querySelectorAll("[data-action=edit],[data-action=delete]"))t.remove()}function le(e,t){let n=e.querySelector("[data-preview]");n.textContent="",n.appendChild(oe(t)),n.hidden=!t}function A(e){let t=e.parentElement,n=e.dataset.form;e.remove(),n=="edit"&&(t.querySelector("[data-body]").hidden=!1);let o=(n=="follow"?i.root:t).querySelector(`[data-action=${n}]`);o&&(o.setAttribute("aria-expanded","false"),o.focus())}function Le(e,t){let n=e.closest(".kb-main"),o=n.querySelector(":scope>form");if(o){let u=o.dataset.form;if(A(o),u==t)return}let r=e.closest("li[data-comment-id]").dataset.commentId,a=n.querySelector("[data-body]"),c=i.form(t,t=="edit"?H(r)?.text??a.innerText:""),d=c.elements.namedItem("text");t=="edit"?(a.hidden=!0,a.after(c)):(d.placeholder=s.replyPh,D(c),n.appendChild(c)),e.setAttribute("aria-expanded","true"),d.focus()}async function He(e){let t=e.closest("form"),n=e.closest("li[data-comment-id]");if(!e.dataset.busy){e.dataset.busy="1";try{switch(e.dataset.action){case"preview":{K(t);let o=await h("POST",`/api/v1/sites/${w(i.site)}/preview`,{text:C(t)});return le(t,o.html)}case"cancel":return A(t);case"reply":case"edit":return Le(e,e.dataset.action);case"upvote":case"downvote":return await Ie(n,e.dataset.action=="upvote"?1:-1);case"delete":return await Ce(n);case"flag":return await Me(n);case"continue":return await Ae(n,e);case"follow":return te(e)}}catch(o){t?N(t,o):n?(o instanceof g&&o.code=="edit_window_closed"&&se(n.firstElementChild),I(n,z(o))):i.announce(z(o))}finally{delete e.dataset.busy}}}function ze(e){let t=e.closest("form");t&&t.dataset.form!="main"&&A(t)}async function Ie(e,t){let n=e.dataset.commentId,o=v("vote:"+n)==String(t)?0:t,r=await h("POST",`/api/v1/comments/${n}/vote`,{value:o});f("vote:"+n,r.value?String(r.value):null);let a=e.firstElementChild,c=a.querySelector("[data-score]");c.textContent=String(r.score).replace("-","−"),c.title=`+${r.up} / −${r.down}`;for(let d of a.querySelectorAll("[data-action=upvote],[data-action=downvote]"))d.setAttribute("aria-pressed",String((d.getAttribute("data-action")=="upvote"?1:-1)==r.value))}async function Me(e){let t=await $({title:s.report,ok:i.t.flag,field:s.why,need:s.needWhy});t!=null&&(await h("POST",`/api/v1/comments/${e.dataset.commentId}/flag`,{reason:t.slice(0,500)}),I(e,s.thanks))}async function Ce(e){let t=e.dataset.commentId,n=H(t);if(!n||await $({title:s.sure,text:s.sureText,ok:i.t.del,alert:!0})==null)return;if(await h("DELETE",`/api/v1/comments/${t}`,void 0,n.token),f("token:"+t,null),i.mine(t,!0),!e.isConnected||e.hasAttribute("data-deleted"))return i.announce(s.gone);let o=i.heading;if(e.querySelector(":scope>[data-replies]>li,:scope>[data-action=continue]"))e.setAttribute("data-deleted",""),e.replaceChild(o=i.article({deleted:!0}),e.firstElementChild);else{let r=e.parentElement.closest("li");r&&(o=r.firstElementChild),e.remove()}o.focus(),i.announce(s.gone)}async function Ae(e,t){let n=new URLSearchParams({sort:i.sort()=="votes"?"votes":"oldest"});t.dataset.cursor&&n.set("cursor",t.dataset.cursor);let o=await h("GET",`/api/v1/comments/${e.dataset.commentId}/replies?${n}`),r=+(e.dataset.depth||0)+1,a=e.querySelector(":scope>[data-replies]");a||e.insertBefore(a=i.replies([],r),t);let c=null;for(let d of o.comments){if(i.find(d.id))continue;let u=a.appendChild(i.comment(d,r));c=c||u}o.next?(t.dataset.cursor=o.next,t.textContent=i.t.more):(t.remove(),c&&c.firstElementChild.focus())}})();
