console.log("app layer");
