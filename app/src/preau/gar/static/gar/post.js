// The GAR's answer page (gar/post.html): the form goes to the GAR at once; its button stays
// for a browser without JavaScript.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("gar-post");
  if (form) {
    form.submit();
  }
});
